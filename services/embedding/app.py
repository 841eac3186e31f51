"""Embedding's use cases: index chunk events, drop deleted documents, embed queries."""

from __future__ import annotations

from collections.abc import Sequence

from llmops.bus import Bus
from llmops.events import DocumentChunked, DocumentDeleted
from llmops.logging import get_logger
from llmops.vectorstore import ChunkIndex
from services.embedding.adapters.sentence_model import Embedder
from services.embedding.core import indexed_event, points_for, validate_texts

log = get_logger(__name__)


class EmbeddingApp:
    """Writes chunk vectors to the index and announces them."""

    def __init__(self, embedder: Embedder, index: ChunkIndex, bus: Bus) -> None:
        self.embedder = embedder
        self.index = index
        self.bus = bus

    async def on_chunked(self, event: DocumentChunked) -> None:
        """Embeds and upserts a part, removes superseded versions' points, then publishes `indexed`."""
        newest = await self.index.newest_version(event.document_id)
        if newest is not None and newest > event.version:
            log.info("skipping superseded version", document_id=event.document_id, version=event.version)
            return
        vectors = await self.embedder.embed([c.text for c in event.chunks])
        await self.index.upsert(points_for(event, vectors))
        # Events are handled concurrently (and by several replicas): a newer version may have completed while
        # this one was embedding, and its cleanup may have run before our upsert. Checking again after the
        # upsert closes that window: whoever writes last sees the other's points and removes the stale ones.
        newest = await self.index.newest_version(event.document_id)
        if newest is not None and newest > event.version:
            await self.index.delete_document(event.document_id, below_version=newest)
            log.info("dropped points of a version superseded while embedding", document_id=event.document_id)
            return
        # Older versions go only once every chunk of this one is in, so no reader finds neither; until then
        # retrieval shows each document's newest version only, so no reader sees both.
        complete = await self.index.count(document_id=event.document_id, version=event.version) >= event.total_chunks
        if event.version > 1 and complete:
            await self.index.delete_document(event.document_id, below_version=event.version)
        await self.bus.publish(indexed_event(event, self.embedder.model_name))

    async def on_deleted(self, event: DocumentDeleted) -> None:
        """Removes every point of a deleted document."""
        await self.index.delete_document(event.document_id)
        log.info("document removed from index", document_id=event.document_id)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for query texts."""
        validate_texts(texts)
        return await self.embedder.embed(texts)
