"""Retrieval: governed search over the chunk index."""
