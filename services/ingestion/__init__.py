"""Ingestion: parses, chunks and versions documents, publishing `documents.v1.*`."""
