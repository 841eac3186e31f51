"""Embedding's domain: points from chunk events, the indexed event, and request validation."""

from __future__ import annotations

import pytest

from llmops import ids
from llmops.errors import InvalidArgument
from llmops.events import ChunkBody, Classification, DocumentChunked
from services.embedding.core import (
    MAX_TEXT_CHARS,
    MAX_TEXTS_PER_REQUEST,
    indexed_event,
    points_for,
    texts_to_embed,
    validate_texts,
)

pytestmark = pytest.mark.unit

DOCUMENT = ids.document_id("acme", "kb://guide.md")


def event(version: int = 1, texts: tuple[str, ...] = ("alpha beta", "gamma delta"), part: int = 0) -> DocumentChunked:
    return DocumentChunked(
        tenant="acme",
        document_id=DOCUMENT,
        version=version,
        source_uri="kb://guide.md",
        title="Guide",
        dataset="hr",
        content_hash="abc",
        classification=Classification.CONFIDENTIAL,
        allowed_groups=["hr"],
        part=part,
        parts=2,
        total_chunks=5,
        chunks=[
            ChunkBody(
                chunk_id=ids.chunk_id(DOCUMENT, version, 3 + i),
                index=3 + i,
                text=text,
                start_char=10 * i,
                end_char=10 * i + len(text),
                page=i,
                heading_path=["Guide", f"S{i}"],
            )
            for i, text in enumerate(texts)
        ],
    )


def test_points_use_chunk_ids_and_carry_what_retrieval_and_citations_need() -> None:
    """One point per chunk, id = chunk id, payload with tenant, document, version, text and position."""
    chunked = event(version=2)
    points = points_for(chunked, [[1.0, 0.0], [0.0, 1.0]], "minilm")
    assert [p.chunk_id for p in points] == [ids.chunk_id(DOCUMENT, 2, 3), ids.chunk_id(DOCUMENT, 2, 4)]
    assert [list(p.vector) for p in points] == [[1.0, 0.0], [0.0, 1.0]]
    assert points[1].payload == {
        "embedding_model": "minilm",
        "tenant": "acme",
        "document_id": DOCUMENT,
        "version": 2,
        "dataset": "hr",
        "source_uri": "kb://guide.md",
        "title": "Guide",
        "classification": "confidential",
        "allowed_groups": ["hr"],
        "chunk_index": 4,
        "text": "gamma delta",
        "start_char": 10,
        "end_char": 21,
        "page": 1,
        "heading_path": ["Guide", "S1"],
    }
    assert points[0].payload["text"] == "alpha beta"


def test_a_redelivered_event_produces_the_same_point_ids() -> None:
    """Idempotent writes: the same event always names the same points."""
    first = points_for(event(), [[0.1], [0.2]])
    again = points_for(event(), [[0.3], [0.4]])
    assert [p.chunk_id for p in first] == [p.chunk_id for p in again]


@pytest.mark.parametrize("vectors", [[], [[1.0]], [[1.0], [1.0], [1.0]]])
def test_a_vector_count_that_does_not_match_the_chunks_is_refused(vectors: list[list[float]]) -> None:
    """Writing fewer or more vectors than chunks would misattribute text."""
    with pytest.raises(ValueError, match=f"{len(vectors)} vectors for 2 chunks"):
        points_for(event(), vectors)


@pytest.mark.parametrize(("version", "superseded"), [(1, None), (2, 1), (7, 6)])
def test_the_indexed_event_names_the_part_and_the_version_it_supersedes(version: int, superseded: int | None) -> None:
    """documents.v1.indexed mirrors the chunked part and says which version it replaces."""
    indexed = indexed_event(event(version=version, texts=("a", "b", "c"), part=1), "minilm")
    assert (indexed.tenant, indexed.document_id, indexed.version) == ("acme", DOCUMENT, version)
    assert (indexed.part, indexed.parts, indexed.chunk_count) == (1, 2, 3)
    assert (indexed.embedding_model, indexed.superseded_version) == ("minilm", superseded)


def test_valid_texts_pass_up_to_the_limits() -> None:
    """Exactly the maximum count and length are accepted."""
    validate_texts(["x"] * MAX_TEXTS_PER_REQUEST)
    validate_texts(["y" * MAX_TEXT_CHARS])


@pytest.mark.parametrize(
    ("texts", "needle"),
    [
        ([], "texts is empty"),
        (["x"] * (MAX_TEXTS_PER_REQUEST + 1), f"{MAX_TEXTS_PER_REQUEST + 1} texts in one request; send at most"),
        (["fine", " \n"], r"texts\[1\] is empty"),
        (["fine", "ok", "z" * (MAX_TEXT_CHARS + 1)], rf"texts\[2\] has {MAX_TEXT_CHARS + 1} characters"),
    ],
)
def test_invalid_texts_are_refused_naming_the_problem(texts: list[str], needle: str) -> None:
    """Each refusal says which text and which limit."""
    with pytest.raises(InvalidArgument, match=needle):
        validate_texts(texts)


def test_only_texts_without_a_vector_are_embedded_once_each_in_order() -> None:
    known = {"unchanged paragraph": [0.1, 0.2]}
    texts = ["new intro", "unchanged paragraph", "new intro", "new ending"]
    assert texts_to_embed(texts, known) == ["new intro", "new ending"]
    assert texts_to_embed(["unchanged paragraph"], known) == []


def test_each_point_records_the_model_that_embedded_it() -> None:
    points = points_for(event(), [[0.1], [0.2]], "sentence-transformers/all-MiniLM-L6-v2")
    assert {p.payload["embedding_model"] for p in points} == {"sentence-transformers/all-MiniLM-L6-v2"}
