"""Retrieval's domain: validating a search and turning index points into hits."""

from __future__ import annotations

import math

import pytest

from llmops.auth import AccessScope, Principal
from llmops.errors import InvalidArgument
from llmops.vectorstore import ScoredPoint
from services.retrieval.core import (
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    Hit,
    SearchQuery,
    maximal_marginal_relevance,
    newest_versions_only,
    to_hit,
    validate,
)

pytestmark = pytest.mark.unit

SCOPE = AccessScope.of(Principal(tenant="acme", subject="ann"))


def search(text: str = "vacation policy", top_k: int = 0, threshold: float = 0.0, dataset: str = "") -> SearchQuery:
    return validate(text, SCOPE, dataset, top_k, threshold, default_top_k=7)


def test_defaults_are_applied_and_text_is_trimmed() -> None:
    """0 means the default top_k and no threshold; whitespace around text and dataset is dropped."""
    assert search("  vacation policy \n", dataset=" hr ") == SearchQuery(
        text="vacation policy", scope=SCOPE, dataset="hr", top_k=7, score_threshold=None
    )


@pytest.mark.parametrize(("top_k", "threshold"), [(1, 0.5), (MAX_TOP_K, 1.0), (3, -1.0), (3, -0.2)])
def test_explicit_values_in_range_are_kept(top_k: int, threshold: float) -> None:
    """Boundaries are inclusive and negative thresholds are allowed."""
    query = search(top_k=top_k, threshold=threshold)
    assert (query.top_k, query.score_threshold) == (top_k, threshold)


def test_a_query_of_exactly_the_maximum_length_is_accepted() -> None:
    """The limit counts the trimmed text."""
    assert len(search(" " + "q" * MAX_QUERY_CHARS + " ").text) == MAX_QUERY_CHARS


@pytest.mark.parametrize(
    ("text", "top_k", "threshold", "needle"),
    [
        ("", 0, 0.0, "query is empty"),
        (" \t\n", 0, 0.0, "query is empty"),
        ("q" * (MAX_QUERY_CHARS + 1), 0, 0.0, f"query has {MAX_QUERY_CHARS + 1} characters"),
        ("ok", -1, 0.0, f"top_k must be between 1 and {MAX_TOP_K}"),
        ("ok", MAX_TOP_K + 1, 0.0, "top_k must be between"),
        ("ok", 0, 1.01, "score_threshold is a cosine similarity"),
        ("ok", 0, -1.5, "score_threshold is a cosine similarity"),
        ("ok", 0, math.nan, "score_threshold"),
    ],
)
def test_invalid_searches_are_refused_naming_the_field(text: str, top_k: int, threshold: float, needle: str) -> None:
    """Each refusal is INVALID_ARGUMENT with a message the caller can act on."""
    with pytest.raises(InvalidArgument, match=needle):
        search(text, top_k, threshold)


def test_a_point_with_a_full_payload_becomes_a_hit() -> None:
    """Every citation field comes from the payload."""
    point = ScoredPoint(
        "c1",
        0.83,
        {
            "document_id": "d",
            "version": 3,
            "chunk_index": 4,
            "text": "Vacation expires in March.",
            "title": "Handbook",
            "source_uri": "kb://handbook.md",
            "dataset": "hr",
            "start_char": 100,
            "end_char": 126,
            "page": 2,
            "heading_path": ["Handbook", "Leave"],
        },
    )
    assert to_hit(point) == Hit(
        chunk_id="c1",
        score=0.83,
        document_id="d",
        document_version=3,
        index=4,
        text="Vacation expires in March.",
        title="Handbook",
        source_uri="kb://handbook.md",
        dataset="hr",
        start_char=100,
        end_char=126,
        page=2,
        heading_path=["Handbook", "Leave"],
    )


def test_a_sparse_payload_gets_empty_defaults() -> None:
    """Only document id and version are required."""
    hit = to_hit(ScoredPoint("c", 0.1, {"document_id": "d", "version": "2"}))
    assert (hit.document_version, hit.index, hit.text, hit.page, hit.heading_path) == (2, 0, "", 0, [])


def test_a_reader_sees_one_version_of_a_document_while_a_new_one_is_indexed() -> None:
    """Hits from an older version are dropped when the same search found the newer one."""

    def hit(document: str, version: int, score: float) -> Hit:
        return to_hit(
            ScoredPoint(f"{document}-{version}-{score}", score, {"document_id": document, "version": version})
        )

    hits = [hit("a", 1, 0.9), hit("b", 3, 0.8), hit("a", 2, 0.7), hit("a", 1, 0.6)]
    assert [(h.document_id, h.document_version) for h in newest_versions_only(hits)] == [("b", 3), ("a", 2)]


def test_mmr_prefers_a_relevant_but_different_chunk_over_a_near_duplicate() -> None:
    """With two near-identical top hits, MMR's second pick is the distinct one."""
    query = [1.0, 0.0, 0.0]
    first = ScoredPoint("a", 0.99, {}, [0.99, 0.14, 0.0])
    duplicate = ScoredPoint("a-copy", 0.98, {}, [0.98, 0.2, 0.0])
    different = ScoredPoint("b", 0.8, {}, [0.8, 0.0, 0.6])
    picked = maximal_marginal_relevance(query, [first, duplicate, different], k=2, relevance_weight=0.5)
    assert [p.chunk_id for p in picked] == ["a", "b"]
    assert [
        p.chunk_id for p in maximal_marginal_relevance(query, [first, duplicate, different], k=2, relevance_weight=1.0)
    ] == ["a", "a-copy"]
