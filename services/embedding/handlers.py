"""Embedding's bus consumers."""

from __future__ import annotations

from llmops.bus import Bus, EventContext
from llmops.events import DocumentChunked, DocumentDeleted
from services.embedding.app import EmbeddingApp


def register(bus: Bus, app: EmbeddingApp, *, concurrency: int = 1) -> None:
    """Subscribes the indexer to chunked and deleted documents; call before the bus starts.

    With `concurrency` > 1 several chunk events are embedded at once, so their texts share micro-batches;
    each event's effect is idempotent (points keyed by chunk id), so their order does not matter.
    """

    async def on_chunked(event: DocumentChunked, _: EventContext) -> None:
        await app.on_chunked(event)

    async def on_deleted(event: DocumentDeleted, _: EventContext) -> None:
        await app.on_deleted(event)

    bus.subscribe(DocumentChunked, on_chunked, durable="embedding-indexer", batch_size=8, concurrency=concurrency)
    bus.subscribe(DocumentDeleted, on_deleted, durable="embedding-deleter")
