"""Retrieval's domain: validating a search and turning index hits into chunks; pure, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops.auth import AccessScope
from llmops.errors import InvalidArgument
from llmops.vectorstore import ScoredPoint

MAX_QUERY_CHARS = 4000
MAX_TOP_K = 50


@dataclass(frozen=True)
class SearchQuery:
    """A validated search."""

    text: str
    scope: AccessScope
    dataset: str = ""
    top_k: int = 5
    score_threshold: float | None = None
    hybrid: bool = False
    mmr: bool = False
    vector: tuple[float, ...] = ()
    """The query's embedding, when the caller sent it."""


@dataclass(frozen=True)
class Hit:
    """A chunk that matched, with what a citation needs."""

    chunk_id: str
    score: float
    document_id: str
    document_version: int
    index: int
    text: str
    title: str
    source_uri: str
    dataset: str
    start_char: int
    end_char: int
    page: int
    heading_path: list[str] = field(default_factory=list)


def validate(
    text: str,
    scope: AccessScope,
    dataset: str,
    top_k: int,
    score_threshold: float,
    default_top_k: int,
    hybrid: bool = False,
    mmr: bool = False,
    vector: Sequence[float] = (),
    dimensions: int = 0,
) -> SearchQuery:
    """A search query, or INVALID_ARGUMENT naming what is wrong."""
    text = text.strip()
    if not text:
        raise InvalidArgument("query is empty; send the text to search for")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidArgument(f"query has {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
    if not 0 <= top_k <= MAX_TOP_K:
        raise InvalidArgument(f"top_k must be between 1 and {MAX_TOP_K} (0 for the default)")
    if not -1.0 <= score_threshold <= 1.0:
        raise InvalidArgument("score_threshold is a cosine similarity between -1 and 1 (0 for none)")
    if vector and not all(math.isfinite(x) for x in vector):
        raise InvalidArgument("query_vector holds NaN or infinite values; send a finite embedding or none")
    if vector and len(vector) != dimensions:
        raise InvalidArgument(
            f"query_vector has {len(vector)} dimensions; the index uses {dimensions} (or send none to embed the query)"
        )
    return SearchQuery(
        text=text,
        scope=scope,
        dataset=dataset.strip(),
        top_k=top_k or default_top_k,
        score_threshold=score_threshold or None,
        hybrid=hybrid,
        mmr=mmr,
        vector=tuple(vector),
    )


def to_hit(point: ScoredPoint) -> Hit:
    """A hit from an index point's payload."""
    p: dict[str, Any] = point.payload
    return Hit(
        chunk_id=point.chunk_id,
        score=point.score,
        document_id=str(p["document_id"]),
        document_version=int(p["version"]),
        index=int(p.get("chunk_index", 0)),
        text=str(p.get("text", "")),
        title=str(p.get("title", "")),
        source_uri=str(p.get("source_uri", "")),
        dataset=str(p.get("dataset", "")),
        start_char=int(p.get("start_char", 0)),
        end_char=int(p.get("end_char", 0)),
        page=int(p.get("page", 0)),
        heading_path=list(p.get("heading_path", [])),
    )


def newest_versions_only(hits: list[Hit]) -> list[Hit]:
    """Drops hits from a document version older than another hit of the same document.

    While a new version is being indexed both versions' chunks exist for a moment; a reader sees one.
    """
    newest: dict[str, int] = {}
    for hit in hits:
        newest[hit.document_id] = max(newest.get(hit.document_id, 0), hit.document_version)
    return [h for h in hits if h.document_version == newest[h.document_id]]


def maximal_marginal_relevance(
    query: Sequence[float], candidates: Sequence[ScoredPoint], k: int, relevance_weight: float = 0.7
) -> list[ScoredPoint]:
    """Picks k candidates trading relevance to the query against similarity to those already picked.

    Vectors are unit length (the embedding model normalises), so a dot product is the cosine similarity.
    """

    def cosine(a: Sequence[float], b: Sequence[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    pool = [c for c in candidates if c.vector is not None]
    relevance = {c.chunk_id: cosine(query, c.vector or []) for c in pool}
    chosen: list[ScoredPoint] = []
    while pool and len(chosen) < k:
        best = max(
            pool,
            key=lambda c: (
                relevance_weight * relevance[c.chunk_id]
                - (1 - relevance_weight) * max((cosine(c.vector or [], s.vector or []) for s in chosen), default=0.0)
            ),
        )
        chosen.append(best)
        pool.remove(best)
    return chosen
