"""Live quality and cost monitoring: the drift detectors fed from platform events, per tenant.

Answer latency and cost (spikes), the guardrail block rate (Page–Hinkley, upward) and query embeddings (MMD against
a reference window, when an embedder is configured) are watched per tenant; feedback scores and groundedness (the
share of each answer its sources support, from the output guardrails; Page–Hinkley, downward) per tenant and
prompt. Every alarm becomes an `alerts.v1.drift` event with its evidence. The state is saved and restored
(`snapshot`, `restore`), so a restarted service continues its baselines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from pydantic import BaseModel, ConfigDict

from llmops.events import DriftAlert, GuardrailsFlagged, InteractionCompleted
from services.feedback.detector_state import load_detector, save_detector
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


class MonitorSettings(BaseModel):
    """Detector parameters (their false-alarm rates are measured in tests/unit/test_feedback_drift.py and
    test_feedback_quality_signals.py); env `LLMOPS_FEEDBACK_DRIFT__<FIELD>`. Smaller windows and run lengths
    alarm sooner and more often."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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
    groundedness_delta: float = 0.05
    groundedness_sigma: float = 0.25
    groundedness_arl0: float = 10_000.0
    """About this many answers between false alarms on a stable stream (Gaussian calibration, conservative for a
    score that is mostly 1.0)."""
    block_rate_baseline: float = 0.05
    """The block rate the threshold is calibrated for: a stable stream blocking about this share of requests."""
    block_rate_delta: float = 0.05
    block_rate_arl0: float = 100_000.0


def block_rate_threshold(settings: MonitorSettings) -> float:
    """Page–Hinkley threshold for the 0/1 block stream, calibrated on its exact distribution at the baseline rate
    (a thousand values in the baseline's proportions)."""
    blocked = round(1000 * settings.block_rate_baseline)
    sample = [1.0] * blocked + [0.0] * (1000 - blocked)
    return page_hinkley_threshold(
        settings.block_rate_arl0, delta=settings.block_rate_delta, sample=sample, direction=Direction.UP
    )


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
    _grounded: dict[tuple[str, str], PageHinkley] = field(default_factory=dict)
    """Groundedness per (tenant, prompt)."""
    _blocks: dict[str, PageHinkley] = field(default_factory=dict)
    """Per tenant: 1 for a request the guardrails blocked, 0 for an answered one."""

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

    async def on_interaction(self, event: InteractionCompleted) -> Alarm | None:
        """Feeds an answered request to its tenant's detectors; the groundedness alarm, when one fires (after it is
        published), since a fall in groundedness after a prompt change is a reason to roll back."""
        await self._alarm(event.tenant, self._block_rate(event.tenant).update(0.0, event.interaction_id))
        if event.cached_from:
            return None  # a cached answer's zero cost and fast reply say nothing about the model path
        grounded = None
        if event.groundedness is not None:
            grounded = self._groundedness(event.tenant, event.prompt_name).update(
                event.groundedness, event.interaction_id
            )
            await self._alarm(event.tenant, grounded)
        detectors = self._detectors(event.tenant)
        await self._alarm(event.tenant, detectors.latency.update(max(event.total_ms, 0.001), event.interaction_id))
        if event.usage.cost_usd > 0:
            await self._alarm(event.tenant, detectors.cost.update(event.usage.cost_usd, event.interaction_id))
        if self.embedder is not None:
            [vector] = await self.embedder.embed([event.query])
            alarm = await asyncio.to_thread(detectors.queries.update, vector, event.interaction_id)
            await self._alarm(event.tenant, alarm)
        return grounded

    async def on_flagged(self, event: GuardrailsFlagged) -> None:
        """A request the guardrails blocked (input or output) counts towards its tenant's block rate."""
        if event.action == "block" and event.stage in {"input", "output"}:
            key = event.interaction_id or event.check_id
            await self._alarm(event.tenant, self._block_rate(event.tenant).update(1.0, key))

    def _groundedness(self, tenant: str, prompt_name: str) -> PageHinkley:
        key = (tenant, prompt_name)
        if key not in self._grounded:
            s = self.settings
            threshold = page_hinkley_threshold(
                s.groundedness_arl0, delta=s.groundedness_delta, sigma=s.groundedness_sigma
            )
            self._grounded[key] = PageHinkley(
                f"groundedness:{prompt_name}", delta=s.groundedness_delta, threshold=threshold,
                direction=Direction.DOWN,
            )  # fmt: skip
        return self._grounded[key]

    def _block_rate(self, tenant: str) -> PageHinkley:
        if tenant not in self._blocks:
            s = self.settings
            self._blocks[tenant] = PageHinkley(
                "guardrail_block_rate", delta=s.block_rate_delta, threshold=block_rate_threshold(s),
                direction=Direction.UP,
            )  # fmt: skip
        return self._blocks[tenant]

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

    def snapshot(self) -> dict[str, Any]:
        """Every detector's state with the settings they were built with (`restore` reads it back)."""
        return {
            "settings": self.settings.model_dump(mode="json"),
            "tenants": {
                tenant: {name: save_detector(getattr(d, name)) for name in ("latency", "cost", "queries")}
                for tenant, d in self._tenants.items()
            },
            "quality": [[t, p, save_detector(d)] for (t, p), d in self._quality.items()],
            "grounded": [[t, p, save_detector(d)] for (t, p), d in self._grounded.items()],
            "blocks": {tenant: save_detector(d) for tenant, d in self._blocks.items()},
        }

    def restore(self, snapshot: dict[str, Any]) -> bool:
        """Continues from a snapshot; False (and nothing changed) when it was taken under other settings, whose
        detectors would keep the old thresholds and windows."""
        if snapshot.get("settings") != self.settings.model_dump(mode="json"):
            return False
        tenants = {
            tenant: _TenantDetectors(
                latency=cast(SpikeDetector, load_detector(d["latency"])),
                cost=cast(SpikeDetector, load_detector(d["cost"])),
                queries=cast(EmbeddingDrift, load_detector(d["queries"])),
            )
            for tenant, d in snapshot["tenants"].items()
        }
        quality = {(t, p): cast(PageHinkley, load_detector(d)) for t, p, d in snapshot["quality"]}
        grounded = {(t, p): cast(PageHinkley, load_detector(d)) for t, p, d in snapshot["grounded"]}
        blocks = {t: cast(PageHinkley, load_detector(d)) for t, d in snapshot["blocks"].items()}
        self._tenants, self._quality, self._grounded, self._blocks = tenants, quality, grounded, blocks
        return True

    async def _alarm(self, tenant: str, alarm: Alarm | None) -> None:
        if alarm is not None:
            await self.publish(DriftAlert(**drift_alert_fields(alarm, tenant=tenant, stream=self.stream)))
