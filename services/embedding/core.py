"""Embedding's domain: which points a chunk event writes and what it announces; pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmops.errors import InvalidArgument
from llmops.events import DocumentChunked, DocumentIndexed
from llmops.vectorstore import ChunkPoint

MAX_TEXTS_PER_REQUEST = 256
MAX_TEXT_CHARS = 8192


def chunk_payload(event: DocumentChunked, index: int, embedding_model: str = "") -> dict[str, Any]:
    """The Qdrant payload of one chunk: what retrieval filters on, what citations show, which model embedded it."""
    chunk = event.chunks[index]
    return {
        "embedding_model": embedding_model,
        "tenant": event.tenant,
        "document_id": event.document_id,
        "version": event.version,
        "dataset": event.dataset,
        "source_uri": event.source_uri,
        "title": event.title,
        "classification": event.classification.value,
        "allowed_groups": event.allowed_groups,
        "chunk_index": chunk.index,
        "text": chunk.text,
        "start_char": chunk.start_char,
        "end_char": chunk.end_char,
        "page": chunk.page,
        "heading_path": chunk.heading_path,
    }


def points_for(
    event: DocumentChunked, vectors: Sequence[Sequence[float]], embedding_model: str = ""
) -> list[ChunkPoint]:
    """One point per chunk; the id is the chunk id, so a redelivered event overwrites the same points."""
    if len(vectors) != len(event.chunks):
        raise ValueError(f"{len(vectors)} vectors for {len(event.chunks)} chunks")
    return [
        ChunkPoint(chunk.chunk_id, vector, chunk_payload(event, i, embedding_model))
        for i, (chunk, vector) in enumerate(zip(event.chunks, vectors, strict=True))
    ]


def indexed_event(event: DocumentChunked, embedding_model: str) -> DocumentIndexed:
    """What the index announces once a part is searchable."""
    return DocumentIndexed(
        tenant=event.tenant,
        document_id=event.document_id,
        version=event.version,
        part=event.part,
        parts=event.parts,
        chunk_count=len(event.chunks),
        embedding_model=embedding_model,
        superseded_version=event.version - 1 if event.version > 1 else None,
    )


def validate_texts(texts: Sequence[str]) -> None:
    """Refuses requests the model cannot serve well."""
    if not texts:
        raise InvalidArgument("texts is empty; send at least one text to embed")
    if len(texts) > MAX_TEXTS_PER_REQUEST:
        raise InvalidArgument(f"{len(texts)} texts in one request; send at most {MAX_TEXTS_PER_REQUEST}")
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidArgument(f"texts[{i}] is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidArgument(f"texts[{i}] has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")


def texts_to_embed(texts: Sequence[str], known: dict[str, list[float]]) -> list[str]:
    """The distinct texts without a vector yet, in first-seen order.

    A new version usually repeats most of the previous one's chunks (an edit touches a few paragraphs); their
    vectors are reused, so an update costs the model only what changed.
    """
    return [t for t in dict.fromkeys(texts) if t not in known]
