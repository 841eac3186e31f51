"""Embedding: turns chunks into vectors in Qdrant (from bus events) and queries into vectors (gRPC)."""
