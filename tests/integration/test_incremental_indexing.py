"""A new version re-embeds only the chunks whose text changed; unchanged chunks keep their vectors.

Real model, real Qdrant local mode, real nats-server for the `indexed` announcements.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient, models

from llmops import ids
from llmops.bus import Bus
from llmops.events import ChunkBody, DocumentChunked
from llmops.vectorstore import ChunkIndex
from services.embedding.adapters.sentence_model import SentenceTransformerEmbedder
from services.embedding.app import EmbeddingApp

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant:UserWarning"),
]

DOCUMENT = ids.document_id("acme", "kb://handbook.md")


class CountingEmbedder:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, model: SentenceTransformerEmbedder) -> None:
        self.model = model
        self.model_name = model.model_name
        self.dimensions = model.dimensions
        self.embedded: list[str] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return await self.model.embed(texts)


def chunked(version: int, texts: list[str]) -> DocumentChunked:
    return DocumentChunked(
        tenant="acme",
        document_id=DOCUMENT,
        version=version,
        source_uri="kb://handbook.md",
        title="Handbook",
        dataset="hr",
        content_hash=f"v{version}",
        part=0,
        parts=1,
        total_chunks=len(texts),
        chunks=[
            ChunkBody(
                chunk_id=ids.chunk_id(DOCUMENT, version, i),
                index=i,
                text=text,
                start_char=0,
                end_char=len(text),
            )
            for i, text in enumerate(texts)
        ],
    )


async def vectors_of(client: AsyncQdrantClient, collection: str) -> dict[tuple[int, str], list[float]]:
    points, _ = await client.scroll(
        collection,
        scroll_filter=models.Filter(
            must=[models.FieldCondition(key="document_id", match=models.MatchValue(value=DOCUMENT))]
        ),
        limit=100,
        with_payload=["version", "text"],
        with_vectors=["dense"],
    )
    return {
        (int((p.payload or {})["version"]), str((p.payload or {})["text"])): list(p.vector["dense"])  # type: ignore[index,call-overload]
        for p in points
    }


async def test_an_update_embeds_only_changed_text_and_reuses_the_rest(nats_url: str, tmp_path: Path) -> None:
    embedder = CountingEmbedder(SentenceTransformerEmbedder())
    client = AsyncQdrantClient(path=str(tmp_path / "qdrant"))
    index = ChunkIndex(client, embedder.dimensions)
    bus = Bus(nats_url, "test/embedding")
    await bus.start()
    try:
        app = EmbeddingApp(embedder, index, bus)
        v1 = ["Vacation: 28 days a year.", "Expenses: file within 30 days.", "Laptops are encrypted."]
        await app.on_chunked(chunked(1, v1))
        assert embedder.embedded == v1
        before = await vectors_of(client, index.collection)

        v2 = ["Vacation: 30 days a year.", "Expenses: file within 30 days.", "Laptops are encrypted."]
        await app.on_chunked(chunked(2, v2))
        assert embedder.embedded[len(v1) :] == ["Vacation: 30 days a year."]

        after = await vectors_of(client, index.collection)
        assert {version for version, _ in after} == {2}, "the superseded version's points were not removed"
        for text in v2[1:]:
            assert after[(2, text)] == before[(1, text)]
        (fresh,) = await embedder.model.embed(["Vacation: 30 days a year."])
        assert after[(2, v2[0])] == pytest.approx(fresh, abs=1e-6)
    finally:
        await bus.stop()
        await client.close()
