"""Drift detectors on synthetic streams: false alarms when nothing changes, delay when something does."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from llmops.events import DriftAlert
from services.feedback.drift import (
    Alarm,
    Direction,
    Example,
    PageHinkley,
    SpikeDetector,
    Window,
    drift_alert_fields,
    page_hinkley_threshold,
    spike_threshold,
)
from services.feedback.embedding_drift import EmbeddingDrift

pytestmark = pytest.mark.unit

DIM = 384


def feed(detector: EmbeddingDrift | PageHinkley | SpikeDetector, stream: Iterable[Any]) -> list[Alarm]:
    alarms = [detector.update(x, f"item-{i}") for i, x in enumerate(stream)]
    return [alarm for alarm in alarms if alarm is not None]


def shifted_embeddings(seed: int, before: int, after: int, shift: float) -> npt.NDArray[np.float64]:
    """Isotropic Gaussian embeddings whose mean moves by `shift` along a random direction at `before`."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(DIM)
    stream = rng.standard_normal((before + after, DIM))
    stream[before:] += shift * direction / np.linalg.norm(direction)
    return stream


# Query-embedding drift


def test_embedding_checks_on_a_stationary_stream_alarm_at_most_alpha_of_the_time() -> None:
    """150 streams of 384-d Gaussian embeddings, 6 disjoint windows of 50 against a reference of 100 each, alpha
    0.05 with 99 permutations (a test of exact level 0.05): 48 alarms in 900 checks, 5.3% (binomial SE 0.7 pt)."""
    alarms = checks = 0
    for seed in range(150):
        detector = EmbeddingDrift(
            reference_size=100, window_size=50, check_every=50, alpha=0.05, permutations=99, cooldown=0, seed=seed
        )
        alarms += len(feed(detector, shifted_embeddings(seed, 400, 0, 0.0)))
        checks += detector.checks
    assert checks == 900
    assert 0.02 <= alarms / checks <= 0.05 * 1.25


def test_an_embedding_mean_shift_is_found_before_the_window_is_replaced() -> None:
    """Mean shift of 1.5 (per-coordinate σ 1, 384-d), reference 200, window 100, a check every 25, alpha 0.01:
    20 of 20 streams alarm 49 to 99 embeddings after the change (median 74), none before it."""
    delays = []
    for seed in range(20):
        detector = EmbeddingDrift(reference_size=200, window_size=100, check_every=25, alpha=0.01, seed=seed)
        alarms = feed(detector, shifted_embeddings(seed, 300, 100, 1.5))
        assert alarms, f"seed {seed}: the shift went unnoticed"
        assert alarms[0].position >= 300, f"seed {seed}: false alarm at {alarms[0].position}"
        delays.append(alarms[0].position - 300)
    assert max(delays) < 100
    assert sorted(delays)[10] <= 75


def test_a_new_topic_is_reported_with_its_queries_as_the_top_examples() -> None:
    """Unit-norm queries on 8 topics; from position 300 on, 30% come from a ninth topic: found before the window
    is replaced, and the 5 examples are all from the new topic."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((9, DIM))
    detector = EmbeddingDrift(reference_size=200, window_size=100, check_every=25, alpha=0.01, top_k=5, seed=7)
    alarm = None
    for i in range(500):
        topic = 8 if i >= 300 and rng.random() < 0.3 else int(rng.integers(8))
        query = centres[topic] / np.linalg.norm(centres[topic]) + 0.05 * rng.standard_normal(DIM)
        alarm = detector.update(query / np.linalg.norm(query), f"topic{topic}-{i}")
        if alarm:
            break
    assert alarm is not None and 300 <= alarm.position < 400
    assert alarm.statistic > alarm.threshold and float(alarm.details["p_value"]) <= 0.01
    assert [example.item_id.split("-")[0] for example in alarm.examples] == ["topic8"] * 5
    assert alarm.windows == (
        Window("reference", 0, 200, 200),
        Window("current", alarm.position - 99, alarm.position + 1, 100),
    )


def test_a_lasting_shift_alarms_once_per_window_and_a_relearned_reference_accepts_it() -> None:
    detector = EmbeddingDrift(reference_size=200, window_size=100, check_every=25, alpha=0.01, seed=3)
    stream = shifted_embeddings(3, 300, 700, 3.0)
    alarms = feed(detector, stream[:700])
    gaps = np.diff([alarm.position for alarm in alarms])
    assert len(alarms) >= 3 and (gaps >= 100).all()
    detector.relearn_reference()
    assert feed(detector, stream[700:]) == []  # 200 to learn the new normal, then 100 that match it


def test_an_explicit_reference_is_described_as_given() -> None:
    detector = EmbeddingDrift(reference_size=500, window_size=50, check_every=50, alpha=0.05, permutations=99)
    stream = shifted_embeddings(11, 100, 50, 3.0)
    detector.set_reference(stream[:100])
    alarms = feed(detector, stream[100:])
    assert len(alarms) == 1 and alarms[0].windows[0] == Window("reference", 0, 0, 100)
    assert alarms[0].windows[0].describe() == "100 items given at position 0"


def test_the_same_seed_and_stream_give_the_same_alarms() -> None:
    stream = shifted_embeddings(5, 300, 200, 1.5)
    runs = [feed(EmbeddingDrift(reference_size=200, window_size=100, seed=42), stream) for _ in range(2)]
    assert runs[0] and runs[0] == runs[1]
    other = feed(EmbeddingDrift(reference_size=200, window_size=100, seed=43), stream)
    assert other[0].statistic == runs[0][0].statistic and other[0].threshold != runs[0][0].threshold


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reference_size": 1}, "reference_size"),
        ({"window_size": 1}, "window_size"),
        ({"check_every": 0}, "check_every"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": 0.01, "permutations": 50}, "at least 99"),
        ({"cooldown": -1}, "cooldown"),
        ({"top_k": -1}, "top_k"),
    ],
)
def test_embedding_drift_rejects_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmbeddingDrift(**kwargs)  # type: ignore[arg-type]


def test_embedding_drift_rejects_bad_vectors() -> None:
    detector = EmbeddingDrift()
    detector.update(np.zeros(DIM))
    with pytest.raises(ValueError, match="expected 384 dimensions, got 3"):
        detector.update(np.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        detector.update(np.full(DIM, np.nan))
    with pytest.raises(ValueError, match="one vector"):
        detector.update(np.zeros((2, DIM)))
    with pytest.raises(ValueError, match="≥ 2 rows"):
        detector.set_reference(np.zeros((1, DIM)))


# Quality drift: Page–Hinkley


@pytest.mark.parametrize(
    ("name", "draw", "calibration"),
    [
        ("groundedness ~ Beta(8, 2)", lambda rng, n: rng.beta(8, 2, n), "sample"),
        ("thumbs up ~ Bernoulli(0.8)", lambda rng, n: (rng.random(n) < 0.8).astype(float), "sample"),
        ("score ~ N(0.8, 0.12)", lambda rng, n: rng.normal(0.8, 0.12, n), "sigma"),
    ],
)
def test_page_hinkley_calibrated_for_a_run_length_keeps_its_false_alarm_rate(name, draw, calibration) -> None:
    """λ from `page_hinkley_threshold(500, delta=σ/4, ...)` (a history of 5,000 values, or σ for Gaussian data),
    100,000 stable values: 1 false alarm per 571 (Beta), 498 (Bernoulli) and 538 (Gaussian) values, against the
    configured 500."""
    rng = np.random.default_rng(1)
    history = draw(rng, 5_000)
    sigma = float(history.std())
    known = {"sample": history} if calibration == "sample" else {"sigma": 0.12}
    threshold = page_hinkley_threshold(500, delta=sigma / 4, **known)
    detector = PageHinkley(name, delta=sigma / 4, threshold=threshold)
    stream = draw(rng, 100_000).tolist()
    run_length = len(stream) / len(feed(detector, stream))
    assert 500 / 1.25 <= run_length <= 500 * 2


def test_a_groundedness_drop_from_0_8_to_0_6_is_found_within_20_answers() -> None:
    """Beta(8, 2) → Beta(6, 4) at 300, delta 0.05, λ for a run length of 10,000: 20 of 20 streams alarm 4 to 13
    answers after the drop (median 6), with the change point, the means and the worst answers as evidence."""
    threshold = page_hinkley_threshold(10_000, delta=0.05, sample=np.random.default_rng(0).beta(8, 2, 5_000))
    delays = []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        stream = np.concatenate((rng.beta(8, 2, 300), rng.beta(6, 4, 100))).tolist()
        alarms = feed(PageHinkley("groundedness", delta=0.05, threshold=threshold), stream)
        first = alarms[0]
        assert first.position >= 300, f"seed {seed}: false alarm at {first.position}"
        delays.append(first.position - 300)
        before, after = first.windows
        assert before.name == "before" and after.name == "after" and before.stop == after.start
        assert 280 <= after.start <= first.position
        assert 0.75 < float(first.details["before_mean"]) < 0.85 and float(first.details["after_mean"]) < 0.7
        assert [e.score for e in first.examples] == sorted(e.score for e in first.examples)
        assert all(e.position >= after.start for e in first.examples)
    assert max(delays) <= 20 and sorted(delays)[10] <= 8


def test_a_rising_block_rate_is_found_with_the_blocked_interactions_as_examples() -> None:
    """Blocks ~ Bernoulli(0.02) → Bernoulli(0.10) at 1,000, direction up, λ for a run length of 10,000."""
    rng = np.random.default_rng(3)
    threshold = page_hinkley_threshold(
        10_000, delta=0.02, sample=(rng.random(5_000) < 0.02).astype(float), direction=Direction.UP
    )
    stream = np.concatenate((rng.random(1_000) < 0.02, rng.random(300) < 0.10)).astype(float).tolist()
    alarms = feed(PageHinkley("block_rate", delta=0.02, threshold=threshold, direction=Direction.UP), stream)
    assert alarms and 1_000 <= alarms[0].position < 1_300
    assert [example.score for example in alarms[0].examples] == [1.0] * 5


def test_after_an_alarm_page_hinkley_resets_and_takes_the_new_level_as_normal() -> None:
    """N(0.8, 0.12) → N(0.6, 0.12) at 500, λ for a run length of 100,000: one alarm in the 3,000 values after."""
    threshold = page_hinkley_threshold(100_000, delta=0.05, sigma=0.12)
    rng = np.random.default_rng(8)
    stream = np.concatenate((rng.normal(0.8, 0.12, 500), rng.normal(0.6, 0.12, 3_000))).tolist()
    alarms = feed(PageHinkley("groundedness", delta=0.05, threshold=threshold), stream)
    assert len(alarms) == 1 and 500 <= alarms[0].position < 540


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delta": -0.1, "threshold": 1.0}, "delta"),
        ({"delta": 0.1, "threshold": 0.0}, "threshold"),
        ({"delta": 0.1, "threshold": float("inf")}, "threshold"),
        ({"delta": 0.1, "threshold": 1.0, "min_samples": 0}, "min_samples"),
        ({"delta": 0.1, "threshold": 1.0, "top_k": 10, "history": 5}, "history"),
        ({"delta": 0.1, "threshold": 1.0, "direction": "sideways"}, "sideways"),
    ],
)
def test_page_hinkley_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PageHinkley("groundedness", **kwargs)  # type: ignore[arg-type]


def test_page_hinkley_calibration_rejects_what_it_cannot_solve() -> None:
    scores = np.random.default_rng(0).beta(8, 2, 1_000)
    with pytest.raises(ValueError, match="either sample"):
        page_hinkley_threshold(500, delta=0.05)
    with pytest.raises(ValueError, match="either sample"):
        page_hinkley_threshold(500, delta=0.05, sample=scores, sigma=0.1)
    with pytest.raises(ValueError, match="delta must be > 0"):
        page_hinkley_threshold(500, delta=0.0, sigma=0.1)
    with pytest.raises(ValueError, match="≥ 30 values"):
        page_hinkley_threshold(500, delta=0.05, sample=scores[:10])
    with pytest.raises(ValueError, match="never alarms"):
        page_hinkley_threshold(500, delta=1.0, sample=scores)
    with pytest.raises(ValueError, match="too short"):
        page_hinkley_threshold(2, delta=0.05, sigma=0.1)
    with pytest.raises(ValueError, match="finite"):
        PageHinkley("groundedness", delta=0.05, threshold=1.0).update(float("nan"))


# Cost and latency spikes


@pytest.mark.parametrize("short_window", [1, 5])
def test_spikes_on_stable_lognormal_latencies_alarm_at_most_alpha_of_the_time(short_window: int) -> None:
    """Latency ~ lognormal(6, 0.5) in ms, alpha 0.002, baseline 200, no debounce, 50,000 values: 0.00208 (single
    values, 104 alarms) and 0.00186 (means of 5, 93 alarms) of the scored values alarm."""
    latencies = np.exp(np.random.default_rng(2).normal(6.0, 0.5, 50_000)).tolist()
    detector = SpikeDetector("latency_ms", alpha=0.002, short_window=short_window, cooldown=0, log_scale=True)
    rate = len(feed(detector, latencies)) / (len(latencies) - detector.min_samples - short_window + 1)
    assert 0.002 / 2 <= rate <= 0.002 * 1.25


def test_a_lasting_latency_tripling_alarms_once_within_two_short_windows() -> None:
    """Latency ×3 from 1,000 to 1,400, alpha 1e-4, short window 5, cooldown 50: one alarm, 7 values in; the
    baseline has absorbed the new level by the time the cooldown ends."""
    rng = np.random.default_rng(4)
    latencies = np.exp(rng.normal(6.0, 0.5, 1_400))
    latencies[1_000:] *= 3
    detector = SpikeDetector("latency_ms", alpha=1e-4, log_scale=True)
    alarms = feed(detector, latencies.tolist())
    assert len(alarms) == 1 and 1_000 <= alarms[0].position < 1_010
    assert 2.0 < float(alarms[0].details["ratio"]) < 4.5
    spike = alarms[0].windows[1]
    assert spike == Window("spike", alarms[0].position - 4, alarms[0].position + 1, 5)
    assert {e.item_id for e in alarms[0].examples} == {f"item-{i}" for i in range(spike.start, spike.stop)}


def test_a_cost_spike_in_one_request_alarms_with_a_short_window_of_one() -> None:
    rng = np.random.default_rng(5)
    costs = rng.gamma(20.0, 0.0001, 500)
    costs[400] = 0.05  # 25× the usual 0.002 USD
    alarms = feed(SpikeDetector("cost_usd", alpha=1e-4, short_window=1), costs.tolist())
    assert [alarm.position for alarm in alarms] == [400]
    assert alarms[0].examples == (Example("item-400", 400, 0.05),)


def test_a_constant_baseline_is_not_scored() -> None:
    assert feed(SpikeDetector("cost_usd", short_window=1), [0.0] * 100 + [1.0]) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 0.5}, "alpha"),
        ({"baseline_size": 2}, "baseline_size"),
        ({"short_window": 0}, "short_window"),
        ({"min_samples": 2}, "min_samples"),
        ({"baseline_size": 100, "min_samples": 101}, "min_samples"),
        ({"cooldown": -1}, "cooldown"),
        ({"direction": "sideways"}, "sideways"),
    ],
)
def test_spike_detector_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpikeDetector("latency_ms", **kwargs)  # type: ignore[arg-type]


def test_spike_detector_rejects_values_it_cannot_score() -> None:
    with pytest.raises(ValueError, match="log_scale needs values > 0"):
        SpikeDetector("latency_ms", log_scale=True).update(0.0)
    with pytest.raises(ValueError, match="finite"):
        SpikeDetector("latency_ms").update(float("inf"))


def test_the_spike_threshold_grows_as_alpha_shrinks_and_the_baseline_shortens() -> None:
    assert spike_threshold(1e-4, baseline_size=200, short_window=5) > spike_threshold(
        1e-3, baseline_size=200, short_window=5
    )
    assert spike_threshold(1e-4, baseline_size=50, short_window=1) > spike_threshold(
        1e-4, baseline_size=5_000, short_window=1
    )


def test_scalar_detectors_replay_a_stream_to_the_same_alarms() -> None:
    rng = np.random.default_rng(6)
    scores = np.concatenate((rng.beta(8, 2, 300), rng.beta(6, 4, 300))).tolist()
    latencies = np.exp(np.concatenate((rng.normal(6, 0.5, 300), rng.normal(7.1, 0.5, 50)))).tolist()
    cases: list[tuple[Callable[[], PageHinkley | SpikeDetector], list[float]]] = [
        (lambda: PageHinkley("groundedness", delta=0.05, threshold=1.2), scores),
        (lambda: SpikeDetector("latency_ms", log_scale=True), latencies),
    ]
    for make, stream in cases:
        first, second = feed(make(), stream), feed(make(), stream)
        assert first and first == second


# Alarms as alerts.v1.drift events


ALARM = Alarm(
    detector="page_hinkley",
    metric="groundedness",
    statistic=1.31,
    threshold=1.22,
    position=511,
    windows=(Window("before", 0, 495, 495), Window("after", 495, 512, 17)),
    examples=(Example("int-502", 502, 0.34), Example("int-511", 511, 0.45)),
    details={"direction": "down", "before_mean": 0.79, "after_mean": 0.66},
)


def test_an_alarm_becomes_a_drift_alert_with_flat_evidence() -> None:
    event = DriftAlert(**drift_alert_fields(ALARM, tenant="acme", stream="groundedness@2026-11-23"))
    assert (event.detector, event.statistic, event.threshold) == ("page_hinkley", 1.31, 1.22)
    assert event.evidence == {
        "metric": "groundedness",
        "position": 511,
        "before_window": "positions [0, 495)",
        "before_size": 495,
        "after_window": "positions [495, 512)",
        "after_size": 17,
        "example_1": "int-502",
        "example_1_score": 0.34,
        "example_2": "int-511",
        "example_2_score": 0.45,
        "direction": "down",
        "before_mean": 0.79,
        "after_mean": 0.66,
    }


def test_the_alert_id_is_stable_for_a_replay_and_distinct_across_tenants_streams_and_positions() -> None:
    def alert_id(alarm: Alarm = ALARM, tenant: str = "acme", stream: str = "s1") -> str:
        return drift_alert_fields(alarm, tenant=tenant, stream=stream)["alert_id"]

    later = Alarm(**{**ALARM.__dict__, "position": 512})
    assert alert_id() == alert_id()
    assert len({alert_id(), alert_id(tenant="globex"), alert_id(stream="s2"), alert_id(later)}) == 4
