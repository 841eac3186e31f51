"""Embedding's bus consumers."""

from __future__ import annotations

from llmops.bus import Bus, EventContext
from llmops.events import DocumentChunked, DocumentDeleted
from services.embedding.app import EmbeddingApp


def register(bus: Bus, app: EmbeddingApp) -> None:
    """Subscribes the indexer to chunked and deleted documents; call before the bus starts."""

    async def on_chunked(event: DocumentChunked, _: EventContext) -> None:
        await app.on_chunked(event)

    async def on_deleted(event: DocumentDeleted, _: EventContext) -> None:
        await app.on_deleted(event)

    bus.subscribe(DocumentChunked, on_chunked, durable="embedding-indexer", batch_size=8)
    bus.subscribe(DocumentDeleted, on_deleted, durable="embedding-deleter")
