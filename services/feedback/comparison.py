"""Comparing evaluation reports: each metric's better direction, the per-metric difference between two reports,
and the gate a candidate must pass to be promoted over production; pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from services.feedback.evaluation import DEFAULT_K


class Direction(Enum):
    """Which way a metric gets better."""

    HIGHER = "higher is better"
    LOWER = "lower is better"


_HIGHER = {"hit", "mrr", "groundedness", "citation_precision", "answer_f1", "answer_recall", "answer_cosine"}
_HIGHER |= {"correct_refusal_rate"}
_LOWER = {"error_rate", "refusal_rate", "forbidden_phrase_rate", "forbidden_phrase_violations", "tokens_total"}
_LOWER |= {"latency_p50_ms", "latency_p95_ms", "cost_usd_total", "cost_usd_mean"}


def direction(metric: str) -> Direction | None:
    """Whether a higher or a lower value of the metric is better (`hit@10` as `hit`); None for counts like
    `items` that are neither."""
    base = metric.split("@", 1)[0]
    if base in _HIGHER:
        return Direction.HIGHER
    if base in _LOWER:
        return Direction.LOWER
    return None


@dataclass(frozen=True)
class MetricDelta:
    """One metric in two reports; NaN where a report lacks it."""

    name: str
    previous: float
    current: float
    delta: float
    """current - previous."""
    improved: bool | None
    """True or False by the metric's direction; None when unchanged, missing on a side, or undirected."""


def _value(metrics: Mapping[str, float], name: str) -> float:
    value = metrics.get(name, math.nan)
    return math.nan if value is None else float(value)


def diff(previous: Mapping[str, float], current: Mapping[str, float]) -> dict[str, MetricDelta]:
    """Per-metric change from `previous` to `current`: every metric of either, in current's order, then those only
    the previous report had."""
    deltas = {}
    for name in [*current, *(n for n in previous if n not in current)]:
        before, after = _value(previous, name), _value(current, name)
        delta = after - before
        way = direction(name)
        improved = None
        if way is not None and not math.isnan(delta) and delta != 0:
            improved = (delta > 0) == (way is Direction.HIGHER)
        deltas[name] = MetricDelta(name, before, after, delta, improved)
    return deltas


@dataclass(frozen=True)
class Tolerance:
    """How much worse than production a candidate may be: the larger of an absolute amount and a share of the
    production value (latency and cost are noisy in proportion to their size)."""

    absolute: float = 0.0
    relative: float = 0.0

    def __post_init__(self) -> None:
        if self.absolute < 0 or self.relative < 0:
            raise ValueError(f"tolerances are not negative: {self}")

    def allowed(self, production: float) -> float:
        """The largest worsening allowed from this production value."""
        return max(self.absolute, self.relative * abs(production))


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    # about one item in a set of 40 (0.025) may flip without failing; violations and errors may not grow at all
    f"hit@{DEFAULT_K}": Tolerance(absolute=0.03),
    f"mrr@{DEFAULT_K}": Tolerance(absolute=0.03),
    "groundedness": Tolerance(absolute=0.03),
    "citation_precision": Tolerance(absolute=0.03),
    "answer_f1": Tolerance(absolute=0.03),
    "refusal_rate": Tolerance(absolute=0.03),
    "correct_refusal_rate": Tolerance(absolute=0.0),
    "forbidden_phrase_violations": Tolerance(absolute=0.0),
    "error_rate": Tolerance(absolute=0.0),
    "latency_p95_ms": Tolerance(relative=0.10),
    "cost_usd_mean": Tolerance(relative=0.10),
}
"""A starting point for gated promotion: quality may not drop, latency and cost may grow by 10%."""


@dataclass(frozen=True)
class GateFailure:
    """A metric on which the candidate is worse than production beyond its tolerance."""

    metric: str
    candidate: float
    """NaN when the candidate's report lacks the metric."""
    production: float
    allowed: float
    """The worsening the tolerance allowed."""
    direction: Direction

    def __str__(self) -> str:
        return (
            f"{self.metric}: candidate {self.candidate:.4g}, production {self.production:.4g} "
            f"({self.direction.value}; allowed worsening {self.allowed:.4g})"
        )


def gate(
    candidate: Mapping[str, float],
    production: Mapping[str, float],
    tolerances: Mapping[str, Tolerance | float] = DEFAULT_TOLERANCES,
) -> list[GateFailure]:
    """The metrics named in `tolerances` on which the candidate is worse than production by more than allowed (a
    bare number is an absolute tolerance); empty = the candidate may be promoted. A metric production lacks is not
    gated (nothing to compare with); one the candidate lacks while production has it fails.

    Raises:
        ValueError: a tolerance names a metric with no direction (`items`), or is negative.
    """
    failures = []
    for name, given in tolerances.items():
        tolerance = given if isinstance(given, Tolerance) else Tolerance(absolute=float(given))
        way = direction(name)
        if way is None:
            raise ValueError(f"{name!r} has no better direction to gate on")
        before, after = _value(production, name), _value(candidate, name)
        if math.isnan(before):
            continue
        allowed = tolerance.allowed(before)
        worse_by = before - after if way is Direction.HIGHER else after - before
        if math.isnan(after) or worse_by > allowed + 1e-9:
            failures.append(GateFailure(name, after, before, allowed, way))
    return failures
