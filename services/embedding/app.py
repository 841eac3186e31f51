"""Embedding's use cases: index chunk events, drop deleted documents, embed queries."""

from __future__ import annotations

from collections.abc import Sequence

from llmops.bus import Bus
from llmops.events import DocumentChunked, DocumentDeleted
from llmops.logging import get_logger
from llmops.vectorstore import ChunkIndex
from services.embedding.adapters.sentence_model import Embedder
from services.embedding.core import indexed_event, points_for, texts_to_embed, validate_texts

log = get_logger(__name__)


class EmbeddingApp:
    """Writes chunk vectors to the index and announces them."""

    def __init__(self, embedder: Embedder, index: ChunkIndex, bus: Bus) -> None:
        self.embedder = embedder
        self.index = index
        self.bus = bus

    async def on_chunked(self, event: DocumentChunked) -> None:
        """Embeds and upserts a part, removes superseded versions' points, then publishes `indexed`."""
        texts = [c.text for c in event.chunks]
        model = self.embedder.model_name
        known = (
            await self.index.known_vectors(event.document_id, below_version=event.version, embedding_model=model)
            if event.version > 1
            else {}
        )
        missing = texts_to_embed(texts, known)
        if missing:
            known.update(zip(missing, await self.embedder.embed(missing), strict=True))
        await self.index.upsert(points_for(event, [known[t] for t in texts], model))
        # One look at the document's points after the upsert decides the rest. Events are handled concurrently
        # (and by several replicas), so a newer version may have completed while this one was embedding and its
        # cleanup may have run before our upsert: whoever writes last sees the other's points and removes the
        # stale ones. Retrieval shows each document's newest version only, so no reader sees both meanwhile.
        versions = await self.index.version_counts(event.document_id)
        newest = max(versions, default=event.version)
        if newest > event.version:
            await self.index.delete_document(event.document_id, below_version=newest)
            log.info("dropped points of a superseded version", document_id=event.document_id, version=event.version)
            return
        # Older versions go only once every chunk of this one is in, so no reader finds neither.
        complete = versions.get(event.version, 0) >= event.total_chunks
        if complete and any(v < event.version for v in versions):
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
