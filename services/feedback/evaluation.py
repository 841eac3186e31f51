"""Golden-set evaluation: per-item scores of observed answers and their aggregate report; pure. (Comparing two
reports and the promotion gate are `comparison.py`.)

Metric names and what they mean (each aggregate is over the items where it applies):

- `hit@k`, `mrr@k`: an expected document among the first k distinct retrieved documents, and 1/rank of the
  first one (0 beyond k); answerable items only.
- `groundedness`: share of the answer's sentences supported by the sources they cite (`lexical.supported`);
  answers that are not refusals and have sentences to judge.
- `citation_precision`: share of the distinct cited documents that are expected or support a sentence.
- `answer_f1`, `answer_recall`: token overlap with the reference answer; answerable items. `answer_cosine`:
  cosine of the answer's and the reference's embeddings, where the caller passed both.
- `refusal_rate`: answerable items refused; `correct_refusal_rate`: unanswerable items refused.
- `forbidden_phrase_rate`, `forbidden_phrase_violations`: items with a must-not-contain phrase, and all such
  phrases found.
- `error_rate`: asks that failed; `latency_p50_ms`, `latency_p95_ms`; `cost_usd_total`, `cost_usd_mean`,
  `tokens_total`; `items`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.feedback import lexical
from services.feedback.golden import GoldenItem

DEFAULT_K = 5


@dataclass(frozen=True)
class CitedSource:
    """A source the answer cites, as the gateway returns it (`Citation.number`, `.source_uri`, `.snippet`)."""

    number: int
    source_uri: str
    text: str = ""
    """The passage the model was given; empty = unknown, and the source cannot support any sentence."""


@dataclass(frozen=True)
class Observation:
    """What one Ask produced for one golden item."""

    answer: str
    citations: tuple[CitedSource, ...] = ()
    """In the order the gateway returns them."""
    retrieved: tuple[str, ...] = ()
    """Source URIs of the retrieved passages in rank order (one document may appear more than once)."""
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    tokens: int = 0
    error: str = ""
    """Why the Ask failed; empty when it succeeded."""
    answer_embedding: tuple[float, ...] = ()
    reference_embedding: tuple[float, ...] = ()
    """Embeddings of the answer and of the item's reference answer by one model; empty = no cosine."""


@dataclass(frozen=True)
class ItemScore:
    """One item's measurements; None where a metric does not apply to it."""

    item_id: str
    answerable: bool
    tags: tuple[str, ...] = ()
    error: bool = False
    refused: bool = False
    hit: float | None = None
    reciprocal_rank: float | None = None
    groundedness: float | None = None
    citation_precision: float | None = None
    answer_f1: float | None = None
    answer_recall: float | None = None
    answer_cosine: float | None = None
    violations: tuple[str, ...] = ()
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    tokens: int = 0


@dataclass(frozen=True)
class Report:
    """An evaluation's aggregate metrics and the per-item scores behind them."""

    metrics: dict[str, float]
    items: tuple[ItemScore, ...]
    by_tag: dict[str, dict[str, float]] = field(default_factory=dict)


# --- per-item metrics -------------------------------------------------------------------------------------------


def first_relevant_rank(retrieved: Sequence[str], expected: Iterable[str]) -> int | None:
    """1-based rank of the first expected document among the distinct retrieved documents, or None."""
    wanted, seen = set(expected), set()
    rank = 0
    for document in retrieved:
        if document in seen:
            continue
        seen.add(document)
        rank += 1
        if document in wanted:
            return rank
    return None


def hit_at_k(retrieved: Sequence[str], expected: Iterable[str], k: int = DEFAULT_K) -> float:
    """1.0 when an expected document is among the first k distinct retrieved documents, else 0.0."""
    rank = first_relevant_rank(retrieved, expected)
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(retrieved: Sequence[str], expected: Iterable[str], k: int = DEFAULT_K) -> float:
    """1/rank of the first expected document among the distinct retrieved ones; 0.0 when none is in the first k."""
    rank = first_relevant_rank(retrieved, expected)
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def _passages(citations: Sequence[CitedSource]) -> dict[int, lexical.Passage]:
    return {c.number: lexical.Passage.of(c.text) for c in citations if c.text.strip()}


def groundedness(
    answer: str, citations: Sequence[CitedSource], min_support: float = lexical.MIN_SUPPORT
) -> float | None:
    """Share of the answer's judgeable sentences supported by the sources they cite (by all cited sources when a
    sentence cites none, as the gateway does). None when there is nothing to judge: no sentence long enough, or
    citations whose text is unknown. An answer with sentences and no citations scores 0.0."""
    claims = lexical.claims(answer)
    if not claims:
        return None
    passages = _passages(citations)
    if citations and not passages:
        return None
    supported = 0
    for claim in claims:
        pool = [passages[n] for n in claim.cited if n in passages] or list(passages.values())
        supported += lexical.supported(claim, pool, min_support)
    return supported / len(claims)


def citation_precision(
    answer: str,
    citations: Sequence[CitedSource],
    expected: Iterable[str],
    min_support: float = lexical.MIN_SUPPORT,
) -> float | None:
    """Share of the distinct cited documents that are expected, or that support at least one sentence of the
    answer on their own; None when nothing is cited."""
    documents = list(dict.fromkeys(c.source_uri for c in citations))
    if not documents:
        return None
    wanted = set(expected)
    claims = lexical.claims(answer)
    good = 0
    for document in documents:
        if document in wanted:
            good += 1
            continue
        passages = [lexical.Passage.of(c.text) for c in citations if c.source_uri == document and c.text.strip()]
        good += any(lexical.supported(claim, [p], min_support) for claim in claims for p in passages)
    return good / len(documents)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors of one length; 0.0 when either is all zeros."""
    if len(a) != len(b):
        raise ValueError(f"vectors differ in length: {len(a)} and {len(b)}")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def score(
    item: GoldenItem, observation: Observation, *, k: int = DEFAULT_K, min_support: float = lexical.MIN_SUPPORT
) -> ItemScore:
    """Every per-item measurement of one observed answer. A failed Ask scores as an empty answer with nothing
    retrieved, so errors cost retrieval and similarity instead of vanishing from the averages."""
    failed = bool(observation.error)
    answer = "" if failed else observation.answer
    citations = () if failed else observation.citations
    retrieved = () if failed else observation.retrieved
    refused = lexical.is_refusal(answer)
    overlap = lexical.token_overlap(answer, item.reference_answer) if answer.strip() else None
    vectors = observation.answer_embedding, observation.reference_embedding
    return ItemScore(
        item_id=item.id,
        answerable=item.answerable,
        tags=item.tags,
        error=failed,
        refused=refused,
        hit=hit_at_k(retrieved, item.expected_sources, k) if item.answerable else None,
        reciprocal_rank=reciprocal_rank(retrieved, item.expected_sources, k) if item.answerable else None,
        groundedness=None if refused else groundedness(answer, citations, min_support),
        citation_precision=None if refused else citation_precision(answer, citations, item.expected_sources),
        answer_f1=(overlap.f1 if overlap else 0.0) if item.answerable else None,
        answer_recall=(overlap.recall if overlap else 0.0) if item.answerable else None,
        answer_cosine=cosine(*vectors) if all(vectors) and not failed else None,
        violations=lexical.violations(answer, item.must_not_contain),
        latency_ms=observation.latency_ms,
        cost_usd=observation.cost_usd,
        tokens=observation.tokens,
    )


# --- aggregation ------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 to 100), interpolating linearly between the nearest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def aggregate(scores: Sequence[ItemScore], *, k: int = DEFAULT_K) -> dict[str, float]:
    """Metric name → value over the items; a metric that applies to no item is left out (not reported as 0)."""
    if not scores:
        return {"items": 0.0}
    answerable = [s for s in scores if s.answerable]
    unanswerable = [s for s in scores if not s.answerable]
    means: dict[str, float | None] = {
        f"hit@{k}": _mean(s.hit for s in answerable),
        f"mrr@{k}": _mean(s.reciprocal_rank for s in answerable),
        "groundedness": _mean(s.groundedness for s in scores),
        "citation_precision": _mean(s.citation_precision for s in scores),
        "answer_f1": _mean(s.answer_f1 for s in answerable),
        "answer_recall": _mean(s.answer_recall for s in answerable),
        "answer_cosine": _mean(s.answer_cosine for s in scores),
        "refusal_rate": _mean(float(s.refused) for s in answerable),
        "correct_refusal_rate": _mean(float(s.refused) for s in unanswerable),
    }
    latencies = [s.latency_ms for s in scores]
    cost = sum(s.cost_usd for s in scores)
    return {
        "items": float(len(scores)),
        "error_rate": sum(s.error for s in scores) / len(scores),
        **{name: value for name, value in means.items() if value is not None},
        "forbidden_phrase_rate": sum(bool(s.violations) for s in scores) / len(scores),
        "forbidden_phrase_violations": float(sum(len(s.violations) for s in scores)),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "cost_usd_total": cost,
        "cost_usd_mean": cost / len(scores),
        "tokens_total": float(sum(s.tokens for s in scores)),
    }


def evaluate(
    observed: Iterable[tuple[GoldenItem, Observation]],
    *,
    k: int = DEFAULT_K,
    min_support: float = lexical.MIN_SUPPORT,
) -> Report:
    """Scores each (item, observation) pair and aggregates them, overall and per tag."""
    scores = tuple(score(item, observation, k=k, min_support=min_support) for item, observation in observed)
    tags = sorted({t for s in scores for t in s.tags})
    by_tag = {t: aggregate([s for s in scores if t in s.tags], k=k) for t in tags}
    return Report(aggregate(scores, k=k), scores, by_tag)
