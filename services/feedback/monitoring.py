"""Live quality and cost monitoring: the drift detectors fed from platform events, per tenant.

Answer latency and cost (spikes), feedback scores (Page–Hinkley, downward) and query embeddings (MMD against a
reference window, when an embedder is configured) are watched per tenant; every alarm becomes an `alerts.v1.drift`
event with its evidence. State lives in memory: a restarted service learns its baselines again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from llmops.events import DriftAlert, InteractionCompleted
from services.feedback.drift import (
    Alarm,
    Direction,
    PageHinkley,
    SpikeDetector,
    drift_alert_fields,
    page_hinkley_threshold,
)
from services.feedback.embedding_drift import EmbeddingDrift


class Embedder(Protocol):
    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(frozen=True)
class MonitorSettings:
    """Detector parameters (their false-alarm rates are measured in tests/unit/test_feedback_drift.py)."""

    spike_alpha: float = 1e-4
    spike_baseline: int = 200
    feedback_delta: float = 0.05
    feedback_arl0: float = 2000.0
    """About this many ratings between false alarms on a stable stream."""
    feedback_sigma: float = 0.35
    embedding_reference: int = 300
    embedding_window: int = 100
    embedding_check_every: int = 50
    embedding_alpha: float = 0.01
    """Per check: with a check every 50 queries, about one false alarm per 5,000 queries on a stable stream."""


@dataclass
class _TenantDetectors:
    latency: SpikeDetector
    cost: SpikeDetector
    queries: EmbeddingDrift


@dataclass
class Monitor:
    """Feeds each tenant's detectors and publishes their alarms."""

    publish: Callable[[DriftAlert], Awaitable[None]]
    settings: MonitorSettings = MonitorSettings()
    embedder: Embedder | None = None
    stream: str = "live"
    """Names this monitor's run in alert ids (replays of the same run publish the same ids)."""
    _tenants: dict[str, _TenantDetectors] = field(default_factory=dict)
    _quality: dict[tuple[str, str], PageHinkley] = field(default_factory=dict)
    """Feedback scores per (tenant, prompt): a bad prompt version shows in its own prompt's stream."""

    def _detectors(self, tenant: str) -> _TenantDetectors:
        if tenant not in self._tenants:
            s = self.settings
            self._tenants[tenant] = _TenantDetectors(
                latency=self._spikes("latency_ms"),
                cost=self._spikes("cost_usd"),
                queries=EmbeddingDrift(reference_size=s.embedding_reference, window_size=s.embedding_window,
                                       check_every=s.embedding_check_every, alpha=s.embedding_alpha),
            )  # fmt: skip
        return self._tenants[tenant]

    def _spikes(self, metric: str) -> SpikeDetector:
        s = self.settings
        return SpikeDetector(metric, alpha=s.spike_alpha, baseline_size=s.spike_baseline, log_scale=True)

    async def on_interaction(self, event: InteractionCompleted) -> None:
        if event.cached_from:
            return  # a cached answer's zero cost and fast reply say nothing about the model path
        detectors = self._detectors(event.tenant)
        await self._alarm(event.tenant, detectors.latency.update(max(event.total_ms, 0.001), event.interaction_id))
        if event.usage.cost_usd > 0:
            await self._alarm(event.tenant, detectors.cost.update(event.usage.cost_usd, event.interaction_id))
        if self.embedder is not None:
            [vector] = await self.embedder.embed([event.query])
            alarm = await asyncio.to_thread(detectors.queries.update, vector, event.interaction_id)
            await self._alarm(event.tenant, alarm)

    async def on_feedback(self, tenant: str, prompt_name: str, rating: float, interaction_id: str) -> Alarm | None:
        """Feeds a rating to its prompt's quality stream; the alarm, when one fires (after it is published)."""
        key = (tenant, prompt_name)
        if key not in self._quality:
            s = self.settings
            threshold = page_hinkley_threshold(s.feedback_arl0, delta=s.feedback_delta, sigma=s.feedback_sigma)
            self._quality[key] = PageHinkley(
                f"feedback_score:{prompt_name}", delta=s.feedback_delta, threshold=threshold, direction=Direction.DOWN
            )
        alarm = self._quality[key].update(rating, interaction_id)
        await self._alarm(tenant, alarm)
        return alarm

    async def _alarm(self, tenant: str, alarm: Alarm | None) -> None:
        if alarm is not None:
            await self.publish(DriftAlert(**drift_alert_fields(alarm, tenant=tenant, stream=self.stream)))
