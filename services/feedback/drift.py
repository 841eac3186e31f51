"""Streaming drift detectors (query embeddings, answer quality, cost and latency) and their alerts; pure, no I/O.

Each detector is fed one observation at a time, keeps O(window) state and returns an `Alarm` when it crosses
its threshold; `drift_alert_fields` turns an alarm into the fields of an `alerts.v1.drift` event. Positions are
0-based counts of the observations a detector has been fed, so replaying a stream raises the same alarms with
the same alert ids.
"""

from __future__ import annotations

import bisect
import math
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from statistics import NormalDist
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from llmops import ids

MAD_TO_SIGMA = 1.4826
"""MAD × this is the standard deviation of Gaussian data."""
MEAN_AD_TO_SIGMA = 1.2533
"""Mean absolute deviation × this is the standard deviation of Gaussian data (the fallback when the MAD is 0)."""
SIEGMUND_OVERSHOOT = 1.166
"""Siegmund's correction for a Gaussian CUSUM overshooting its threshold, in standard deviations."""


class Direction(StrEnum):
    """Which way a scalar stream must move to alarm."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Window:
    """A span of stream positions `[start, stop)`; an explicitly given reference has `size` items at `start`."""

    name: str
    start: int
    stop: int
    size: int

    def describe(self) -> str:
        if self.size == self.stop - self.start:
            return f"positions [{self.start}, {self.stop})"
        return f"{self.size} items given at position {self.start}"


@dataclass(frozen=True)
class Example:
    """An observation that shows the drift; `item_id` is the caller's id, or the position when none was given."""

    item_id: str
    position: int
    score: float
    """What ranked it: the MMD witness for embeddings, the value itself for scalar streams."""


@dataclass(frozen=True)
class Alarm:
    """A detector crossed its threshold: `statistic` > `threshold` at stream position `position`."""

    detector: str
    metric: str
    statistic: float
    threshold: float
    position: int
    windows: tuple[Window, ...]
    examples: tuple[Example, ...] = ()
    details: Mapping[str, str | float | int] = field(default_factory=dict)


class DriftAlertFields(TypedDict):
    """The keyword arguments of `llmops.events.DriftAlert`."""

    tenant: str
    alert_id: str
    detector: str
    statistic: float
    threshold: float
    evidence: dict[str, str | float | int]


def drift_alert_fields(alarm: Alarm, *, tenant: str, stream: str) -> DriftAlertFields:
    """The fields of the `alerts.v1.drift` event for an alarm: `DriftAlert(**drift_alert_fields(...))`.

    Args:
        alarm: What a detector returned.
        tenant: Whose stream it is.
        stream: Names the detector instance (e.g. `groundedness` and when it started). The alert id derives
            from it, the tenant, the detector, the metric and the position, so a replay of the same stream
            republishes the same ids and JetStream drops the duplicates.
    """
    evidence: dict[str, str | float | int] = {"metric": alarm.metric, "position": alarm.position}
    for window in alarm.windows:
        evidence[f"{window.name}_window"] = window.describe()
        evidence[f"{window.name}_size"] = window.size
    for rank, example in enumerate(alarm.examples, start=1):
        evidence[f"example_{rank}"] = example.item_id
        evidence[f"example_{rank}_score"] = example.score
    evidence.update(alarm.details)
    key = "\x00".join(["drift", tenant, stream, alarm.detector, alarm.metric, str(alarm.position)])
    return DriftAlertFields(
        tenant=tenant,
        alert_id=str(uuid.uuid5(ids.NAMESPACE, key)),
        detector=alarm.detector,
        statistic=alarm.statistic,
        threshold=alarm.threshold,
        evidence=evidence,
    )


def require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _finite(value: float, metric: str) -> float:
    number = float(value)
    require(math.isfinite(number), f"{metric}: got {value!r}; feed finite numbers (drop missing values upstream)")
    return number


def page_hinkley_threshold(
    arl0: float,
    *,
    delta: float,
    sample: npt.ArrayLike | None = None,
    sigma: float | None = None,
    direction: Direction = Direction.DOWN,
) -> float:
    """The Page–Hinkley threshold λ for about `arl0` observations between false alarms on a stable stream.

    A one-sided CUSUM whose increments z (deviation in `direction` beyond `delta`) have E[z] = −delta runs
    about (e^{θB} − θB − 1) / (θ·delta) observations between false alarms, where θ > 0 solves E[e^{θz}] = 1
    and B = λ + 1.166σ (Siegmund's overshoot correction); solved here for λ. Give `sample`, the metric over a
    stable period (a few thousand values), to estimate θ from the data's own tails (skewed scores, thumbs
    0/1), or `sigma` alone for Gaussian data (θ = 2·delta / σ²).

    Raises:
        ValueError: Bad arguments, or a delta so large (or an arl0 so short) that no λ > 0 fits.
    """
    require(arl0 > 1, f"arl0 must be > 1, got {arl0}")
    require(math.isfinite(delta) and delta > 0, f"delta must be > 0 to calibrate, got {delta}")
    require((sample is None) != (sigma is None), "give either sample (any data) or sigma (Gaussian data)")
    if sigma is not None:
        require(math.isfinite(sigma) and sigma > 0, f"sigma must be > 0, got {sigma}")
        theta = 2 * delta / sigma**2
    else:
        values = np.asarray(sample, dtype=np.float64)
        require(values.ndim == 1 and len(values) >= 30, "sample must be ≥ 30 values of the metric")
        require(bool(np.isfinite(values).all()), "sample has non-finite values")
        sigma = float(values.std())
        deviations = values - values.mean() if Direction(direction) is Direction.UP else values.mean() - values
        increments = deviations - delta
        require(float(increments.max()) > 0, f"delta={delta} exceeds every deviation in the sample: it never alarms")

        def log_mgf(t: float) -> float:
            top = float(increments.max()) * t
            return top + math.log(float(np.mean(np.exp(t * increments - top))))

        theta = _solve(log_mgf, 0.0)

    # Solved for u = θB, which stays small whatever the metric's units.
    u = _solve(lambda u: math.expm1(u) - u - arl0 * theta * delta, 0.0)
    threshold = u / theta - SIEGMUND_OVERSHOOT * sigma
    require(threshold > 0, f"arl0={arl0} is too short for delta={delta}; ask for a longer run length")
    return threshold


def _solve(increasing: Callable[[float], float], low: float) -> float:
    """Where a function negative from `low` to its root and non-negative beyond turns non-negative (bisection)."""
    high = 1.0
    while increasing(high) < 0:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if increasing(middle) < 0:
            low = middle
        else:
            high = middle
    return high


class PageHinkley:
    """Page–Hinkley test for a lasting mean shift of a scalar quality stream in one direction.

    With x̄ᵢ the running mean, it accumulates m_t = Σ (x̄ᵢ − xᵢ − delta) for `Direction.DOWN` (Σ (xᵢ − x̄ᵢ −
    delta) for UP) and alarms when m_t − min m > `threshold` (λ), not before `min_samples` observations.
    `delta` (in the metric's units) is the shift it tolerates; λ trades detection delay for false alarms
    (`page_hinkley_threshold` picks it for a wanted run length). The evidence estimates where the shift began
    (where m was lowest), the means before and after, and the most extreme recent observations since then.

    After an alarm the detector resets completely, running mean included, and warms up again: a lasting shift
    alarms once and its new level becomes the baseline. O(`history`) memory; O(1) per update.
    """

    detector = "page_hinkley"

    def __init__(
        self,
        metric: str,
        *,
        delta: float,
        threshold: float,
        direction: Direction = Direction.DOWN,
        min_samples: int = 30,
        top_k: int = 5,
        history: int = 256,
    ) -> None:
        require(math.isfinite(delta) and delta >= 0, f"delta must be ≥ 0, got {delta}")
        require(math.isfinite(threshold) and threshold > 0, f"threshold must be > 0, got {threshold}")
        require(min_samples >= 1, f"min_samples must be ≥ 1, got {min_samples}")
        require(top_k >= 0, f"top_k must be ≥ 0, got {top_k}")
        require(history >= top_k, f"history must be ≥ top_k ({top_k}), got {history}")
        self.metric = metric
        self.delta = delta
        self.threshold = threshold
        self.direction = Direction(direction)
        self.min_samples = min_samples
        self.top_k = top_k
        self._recent: deque[tuple[int, float, str]] = deque(maxlen=history)
        self._position = 0
        self._reset()

    def _reset(self) -> None:
        self._start = self._position
        self._n = 0
        self._mean = 0.0
        self._total = 0.0
        self._cumulative = 0.0
        self._minimum = 0.0
        self._n_at_minimum = 0
        self._total_at_minimum = 0.0

    def update(self, value: float, item_id: str = "") -> Alarm | None:
        """Feeds one observation; an alarm when the cumulative deviation crosses the threshold."""
        x = _finite(value, self.metric)
        position = self._position
        self._position += 1
        self._recent.append((position, x, item_id or str(position)))
        self._n += 1
        self._total += x
        self._mean += (x - self._mean) / self._n
        deviation = x - self._mean if self.direction is Direction.UP else self._mean - x
        self._cumulative += deviation - self.delta
        if self._cumulative < self._minimum:
            self._minimum = self._cumulative
            self._n_at_minimum, self._total_at_minimum = self._n, self._total
        statistic = self._cumulative - self._minimum
        if self._n < self.min_samples or statistic <= self.threshold:
            return None
        alarm = self._alarm(position, statistic)
        self._reset()
        return alarm

    def _alarm(self, position: int, statistic: float) -> Alarm:
        change = self._start + self._n_at_minimum  # first position after the lowest point of m
        after_n = self._n - self._n_at_minimum
        details: dict[str, str | float | int] = {
            "direction": self.direction.value,
            "delta": self.delta,
            "after_mean": (self._total - self._total_at_minimum) / after_n,
        }
        if self._n_at_minimum:
            details["before_mean"] = self._total_at_minimum / self._n_at_minimum
        since = [item for item in self._recent if item[0] >= change]
        since.sort(key=lambda item: item[1], reverse=self.direction is Direction.UP)
        return Alarm(
            detector=self.detector,
            metric=self.metric,
            statistic=statistic,
            threshold=self.threshold,
            position=position,
            windows=(
                Window("before", self._start, change, self._n_at_minimum),
                Window("after", change, position + 1, after_n),
            ),
            examples=tuple(Example(item_id, at, x) for at, x, item_id in since[: self.top_k]),
            details=details,
        )


def spike_threshold(alpha: float, *, baseline_size: int, short_window: int) -> float:
    """The robust z-score `SpikeDetector` alarms above so that about `alpha` of stable Gaussian values alarm.

    The statistic is nearly Student-t: its scale comes from a MAD of `baseline_size` values (about
    baseline_size / 2.72 degrees of freedom) and its centre's noise widens it by √(1 + 1.571·short/baseline).
    The t quantile is the Cornish–Fisher expansion of the normal one.
    """
    require(0 < alpha < 0.5, f"alpha must be in (0, 0.5), got {alpha}")
    z = NormalDist().inv_cdf(1 - alpha)
    freedom = baseline_size / 2.72
    t = z + (z**3 + z) / (4 * freedom) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * freedom**2)
    return t * math.sqrt(1 + 1.571 * short_window / baseline_size)


class SpikeDetector:
    """Cost and latency spikes: the robust z-score of a short-window mean against a rolling baseline.

    The baseline is the `baseline_size` observations before the latest `short_window`; its centre is the median
    and its scale MAD × 1.4826 (mean absolute deviation × 1.2533 when the MAD is 0; a constant baseline is not
    scored). The statistic, (short-window mean − median) / (scale / √short_window) signed by `direction`,
    alarms above `spike_threshold(alpha, ...)`, so about `alpha` of the observations of a stable Gaussian stream
    alarm (before the debounce). With `log_scale` (latency, cost: roughly lognormal; values must be > 0) the
    logarithms are compared, and the evidence gives the ratio of the short window to the baseline median.

    No alarm before the baseline has `min_samples`; after an alarm it is quiet for `cooldown` observations,
    and a lasting level shift becomes the baseline as it fills. O(baseline_size) memory; O(log baseline_size)
    per update, plus an O(baseline_size) memory move.
    """

    detector = "spike"

    def __init__(
        self,
        metric: str,
        *,
        alpha: float = 1e-4,
        baseline_size: int = 200,
        short_window: int = 5,
        min_samples: int = 50,
        cooldown: int = 50,
        direction: Direction = Direction.UP,
        log_scale: bool = False,
        top_k: int = 5,
    ) -> None:
        require(baseline_size >= 3, f"baseline_size must be ≥ 3, got {baseline_size}")
        require(short_window >= 1, f"short_window must be ≥ 1, got {short_window}")
        require(
            3 <= min_samples <= baseline_size,
            f"min_samples must be in [3, baseline_size={baseline_size}], got {min_samples}",
        )
        require(cooldown >= 0, f"cooldown must be ≥ 0, got {cooldown}")
        require(top_k >= 0, f"top_k must be ≥ 0, got {top_k}")
        self.metric = metric
        self.alpha = alpha
        self.k = spike_threshold(alpha, baseline_size=baseline_size, short_window=short_window)
        self.baseline_size = baseline_size
        self.short_window = short_window
        self.min_samples = min_samples
        self.cooldown = cooldown
        self.direction = Direction(direction)
        self.log_scale = log_scale
        self.top_k = top_k
        self._arrivals: deque[float] = deque()
        self._sorted: list[float] = []
        self._short: deque[tuple[int, float, str]] = deque(maxlen=short_window)
        self._position = 0
        self._quiet_until = 0

    def update(self, value: float, item_id: str = "") -> Alarm | None:
        """Feeds one observation; an alarm when the short window stands off the baseline."""
        x = _finite(value, self.metric)
        require(not self.log_scale or x > 0, f"{self.metric}: log_scale needs values > 0, got {x}")
        position = self._position
        self._position += 1
        if len(self._short) == self.short_window:
            self._admit(self._short[0][1])
        self._short.append((position, math.log(x) if self.log_scale else x, item_id or str(position)))
        n = len(self._sorted)
        if len(self._short) < self.short_window or n < self.min_samples or position < self._quiet_until:
            return None
        values = self._sorted
        centre = (values[(n - 1) // 2] + values[n // 2]) / 2
        mad = (_kth_distance(values, centre, (n - 1) // 2) + _kth_distance(values, centre, n // 2)) / 2
        scale = MAD_TO_SIGMA * mad or MEAN_AD_TO_SIGMA * math.fsum(abs(v - centre) for v in values) / n
        if scale == 0.0:
            return None
        short_mean = math.fsum(item[1] for item in self._short) / self.short_window
        statistic = (short_mean - centre) / (scale / math.sqrt(self.short_window))
        if self.direction is Direction.DOWN:
            statistic = -statistic
        if statistic <= self.k:
            return None
        self._quiet_until = position + 1 + self.cooldown
        return self._alarm(position, statistic, centre, short_mean, scale)

    def _admit(self, value: float) -> None:
        """Moves a value into the baseline, dropping the oldest when it is full; keeps a sorted copy."""
        self._arrivals.append(value)
        bisect.insort(self._sorted, value)
        if len(self._arrivals) > self.baseline_size:
            del self._sorted[bisect.bisect_left(self._sorted, self._arrivals.popleft())]

    def _shown(self, value: float) -> float:
        """A value back in the metric's units."""
        return math.exp(value) if self.log_scale else value

    def _alarm(self, position: int, statistic: float, centre: float, short_mean: float, scale: float) -> Alarm:
        details: dict[str, str | float | int] = {
            "direction": self.direction.value,
            "alpha": self.alpha,
            "baseline_median": self._shown(centre),
            "short_mean": self._shown(short_mean),  # the geometric mean under log_scale
            "scale": scale,  # the robust sigma, of the logarithms under log_scale
        }
        if self.log_scale:
            details["ratio"] = math.exp(short_mean - centre)
        items = sorted(self._short, key=lambda item: item[1], reverse=self.direction is Direction.UP)
        first = position + 1 - self.short_window
        return Alarm(
            detector=self.detector,
            metric=self.metric,
            statistic=statistic,
            threshold=self.k,
            position=position,
            windows=(
                Window("baseline", first - len(self._sorted), first, len(self._sorted)),
                Window("spike", first, position + 1, self.short_window),
            ),
            examples=tuple(Example(item_id, at, self._shown(v)) for at, v, item_id in items[: self.top_k]),
            details=details,
        )


def _kth_distance(values: list[float], centre: float, k: int) -> float:
    """The k-th smallest (from 0) |v − centre| of sorted `values`, in O(log n).

    The distances below and above `centre` are two sorted runs; this picks how many to take from each.
    """
    split = bisect.bisect_left(values, centre)
    below, above = split, len(values) - split
    count = k + 1
    low, high = max(0, count - above), min(count, below)
    while low < high:
        taken = (low + high) // 2  # from below; the rest, count − taken, from above
        if centre - values[split - 1 - taken] < values[split + count - taken - 1] - centre:
            low = taken + 1
        else:
            high = taken
    candidates = []
    if low > 0:
        candidates.append(centre - values[split - low])
    if count - low > 0:
        candidates.append(values[split + count - low - 1] - centre)
    return max(candidates)
