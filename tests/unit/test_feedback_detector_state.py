"""Drift detectors saved and restored: a restored detector continues exactly as the original would have."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from llmops.events import InteractionCompleted, Usage
from services.feedback.adapters.store import FeedbackStore
from services.feedback.detector_state import load_detector, save_detector
from services.feedback.drift import Direction, PageHinkley, SpikeDetector
from services.feedback.embedding_drift import EmbeddingDrift
from services.feedback.monitoring import Monitor, MonitorSettings

pytestmark = pytest.mark.unit


def alarms_of(detector: object, values: list[object]) -> list[tuple[int, float]]:
    out = []
    for i, v in enumerate(values):
        alarm = detector.update(v, f"x{i}")  # type: ignore[attr-defined]
        if alarm is not None:
            out.append((alarm.position, round(alarm.statistic, 9)))
    return out


def round_trip(detector: object) -> object:
    """Through JSON text, as the store keeps it."""
    return load_detector(json.loads(json.dumps(save_detector(detector))))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "before", "after"),
    [
        (lambda: PageHinkley("p", delta=0.05, threshold=3.0, direction=Direction.DOWN),
         [0.9] * 200, [0.9] * 20 + [0.4] * 60),
        (lambda: SpikeDetector("latency_ms", baseline_size=100, log_scale=True),
         [float(v) for v in np.random.default_rng(1).lognormal(5, 0.2, 300)], [800.0] * 10 + [150.0] * 50),
    ],
    ids=["page_hinkley", "spike"],
)  # fmt: skip
def test_a_restored_scalar_detector_alarms_exactly_where_the_original_does(
    make: object, before: list[float], after: list[float]
) -> None:
    original, twin = make(), make()  # type: ignore[operator]
    alarms_of(original, before)
    alarms_of(twin, before)
    restored = round_trip(twin)
    expected = alarms_of(original, after)
    assert expected, "the continuation must alarm, or the comparison proves nothing"
    assert alarms_of(restored, after) == expected


def test_a_restored_embedding_detector_keeps_its_reference_window_and_random_state() -> None:
    rng = np.random.default_rng(4)
    stable = [list(v) for v in rng.normal(0, 1, (130, 8))]
    shifted = [list(v) for v in rng.normal(0.8, 1, (60, 8))]

    def make() -> EmbeddingDrift:
        return EmbeddingDrift(reference_size=60, window_size=30, check_every=10, alpha=0.05, seed=3)

    original, twin = make(), make()
    alarms_of(original, stable)
    alarms_of(twin, stable)
    restored = round_trip(twin)
    expected = alarms_of(original, shifted)
    assert expected
    assert alarms_of(restored, shifted) == expected


def test_unknown_classes_and_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown detector class"):
        load_detector({"class": "os.system", "attributes": {}})
    state = save_detector(PageHinkley("p", delta=0.1, threshold=1.0))
    state["attributes"]["_recent"] = {"$pickle": "gASV..."}
    with pytest.raises(ValueError, match="unknown state entry"):
        load_detector(state)


def answered(n: int, groundedness: float) -> InteractionCompleted:
    return InteractionCompleted(
        tenant="acme", interaction_id=f"i{n}", user="u", query="q", answer="a", citations=[], model="m",
        prompt_name="rag", prompt_version=1, usage=Usage(cost_usd=0.001), retrieve_ms=1, generate_ms=1,
        total_ms=100 + n % 7, groundedness=groundedness,
    )  # fmt: skip


async def test_a_monitor_restarted_from_its_store_alarms_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    """Stable answers, a restart through the SQLite store, then a groundedness drop: same alarm position."""
    rng = random.Random(2)
    stable = [1.0 if rng.random() > 0.1 else rng.uniform(0.5, 0.85) for _ in range(400)]
    worse = [1.0 if rng.random() > 0.6 else rng.uniform(0.4, 0.8) for _ in range(300)]

    async def publish(_: object) -> None:
        return None

    uninterrupted, before_restart = Monitor(publish), Monitor(publish)
    for n, g in enumerate(stable):
        await uninterrupted.on_interaction(answered(n, g))
        await before_restart.on_interaction(answered(n, g))
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    await store.save_monitor(before_restart.snapshot(), datetime.now(UTC))
    await store.close()

    reopened = FeedbackStore(tmp_path / "feedback.sqlite3")
    after_restart = Monitor(publish)
    saved = await reopened.load_monitor()
    assert saved is not None and after_restart.restore(saved)
    await reopened.close()

    async def first_alarm(monitor: Monitor) -> int | None:
        for n, g in enumerate(worse, start=len(stable)):
            if await monitor.on_interaction(answered(n, g)) is not None:
                return n
        return None

    expected = await first_alarm(uninterrupted)
    assert expected is not None
    assert await first_alarm(after_restart) == expected


def test_a_snapshot_taken_under_other_settings_is_not_restored() -> None:
    async def publish(_: object) -> None:
        return None

    old = Monitor(publish, MonitorSettings(groundedness_delta=0.1))
    new = Monitor(publish)
    assert new.restore(old.snapshot()) is False
