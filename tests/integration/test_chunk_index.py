"""The chunk index on Qdrant local mode with the real embedding model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from llmops import ids
from llmops.vectorstore import ChunkIndex, ChunkPoint
from services.embedding.adapters.sentence_model import SentenceTransformerEmbedder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[ChunkIndex]:
    client = AsyncQdrantClient(path=str(tmp_path / "qdrant"))
    yield ChunkIndex(client, 384)
    await client.close()


async def points(
    embedder: SentenceTransformerEmbedder,
    tenant: str,
    document: str,
    version: int,
    texts: list[str],
    dataset: str = "d",
) -> list[ChunkPoint]:
    vectors = await embedder.embed(texts)
    return [
        ChunkPoint(
            ids.chunk_id(document, version, i),
            vector,
            {"tenant": tenant, "document_id": document, "version": version, "dataset": dataset, "text": text},
        )
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    ]


async def test_the_embedding_model_gives_unit_vectors_that_rank_paraphrases_first(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """384 dimensions, normalised, deterministic, and semantically ordered."""
    a, b, c, a_again = await embedder.embed(
        [
            "How do I reset my password?",
            "Steps to change a forgotten password",
            "Quarterly revenue grew",
            "How do I reset my password?",
        ]
    )
    assert len(a) == 384 and abs(sum(x * x for x in a) - 1.0) < 1e-4
    assert a == a_again

    def cos(u: list[float], v: list[float]) -> float:
        return sum(x * y for x, y in zip(u, v, strict=True))

    assert cos(a, b) > cos(a, c) + 0.2


async def test_search_finds_the_nearest_chunk_of_the_callers_tenant_only(
    index: ChunkIndex, embedder: SentenceTransformerEmbedder
) -> None:
    """Tenant and dataset filters isolate; payload comes back with the hit."""
    await index.upsert(
        await points(embedder, "acme", "doc-a", 1, ["Vacation days expire in March.", "Laptops are encrypted."])
    )
    await index.upsert(await points(embedder, "globex", "doc-g", 1, ["Vacation days never expire."]))
    (query,) = await embedder.embed(["When do vacation days expire?"])

    hits = await index.search(query, tenant="acme", dataset="", limit=5, score_threshold=None)
    assert [h.payload["text"] for h in hits][0] == "Vacation days expire in March."
    assert {h.payload["tenant"] for h in hits} == {"acme"}
    assert await index.search(query, tenant="acme", dataset="other", limit=5, score_threshold=None) == []


async def test_upserts_are_idempotent_and_old_versions_can_be_removed(
    index: ChunkIndex, embedder: SentenceTransformerEmbedder
) -> None:
    """Same ids overwrite; delete below a version keeps only the newest."""
    v1 = await points(embedder, "acme", "doc", 1, ["one", "two"])
    await index.upsert(v1)
    await index.upsert(v1)
    assert await index.count(document_id="doc") == 2
    await index.upsert(await points(embedder, "acme", "doc", 2, ["one updated"]))
    assert await index.newest_version("doc") == 2
    await index.delete_document("doc", below_version=2)
    assert await index.count(document_id="doc") == 1
    await index.delete_document("doc")
    assert await index.count(document_id="doc") == 0 and await index.newest_version("doc") is None
