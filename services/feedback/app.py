"""Feedback's use cases: remember answered interactions, take a person's feedback on one, announce it."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from llmops.auth import Principal
from llmops.errors import FailedPrecondition, InvalidArgument, NotFound
from llmops.events import (
    EvaluationCompleted,
    Event,
    FeedbackReceived,
    GuardrailsFlagged,
    InteractionCompleted,
    PromptChange,
    PromptChanged,
)
from llmops.logging import get_logger
from llmops.prompts.core import PRODUCTION
from services.feedback.adapters.store import FeedbackStore
from services.feedback.comparison import DEFAULT_TOLERANCES, GateFailure, MetricDelta, Tolerance, diff, gate
from services.feedback.core import EvaluationRun, Interaction, Submission, quality_metrics, training_example
from services.feedback.drift import Alarm
from services.feedback.evaluation import Observation, evaluate
from services.feedback.golden import GoldenSet, load_golden_set
from services.feedback.monitoring import Monitor
from services.feedback.rollback import Promotion, RecentPromotions

log = get_logger(__name__)


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...


class PromptRoller(Protocol):
    """Moves a prompt label back (the inference service's registry)."""

    async def roll_back(self, tenant: str, name: str, label: str, reason: str) -> int: ...


class Asker(Protocol):
    """Runs one question through the platform as a user would (the gateway)."""

    async def ask(
        self, principal: Principal, question: str, prompt_name: str, prompt_version: int, model: str
    ) -> Observation: ...


BUILT_IN_GOLDEN = Path(__file__).parent / "data" / "golden"


@dataclass(frozen=True)
class PromotionVerdict:
    """Whether a prompt version may become production, and why (not)."""

    allowed: bool
    reason: str
    failures: list[GateFailure] = field(default_factory=list)
    candidate_evaluation: EvaluationRun | None = None
    production_evaluation: EvaluationRun | None = None


_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class GoldenSets:
    """Golden sets by name: `<name>.jsonl` in the operator's folder first, then the built-in ones."""

    folders: Sequence[Path] = (BUILT_IN_GOLDEN,)

    def load(self, name: str) -> GoldenSet:
        if not _SET_NAME.fullmatch(name):
            raise InvalidArgument(
                f"golden_set {name[:60]!r}: use letters, digits, '.', '_' and '-' (e.g. cpython-docs-v1)"
            )
        for folder in self.folders:
            path = folder / f"{name}.jsonl"
            if path.is_file():
                return load_golden_set(path)
        known = sorted({p.stem for folder in self.folders if folder.is_dir() for p in folder.glob("*.jsonl")})
        raise NotFound(f"golden set {name!r} does not exist; known: {', '.join(known) or 'none'}")


class FeedbackApp:
    """Human feedback linked to interactions, and golden-set evaluations through the gateway."""

    def __init__(
        self,
        store: FeedbackStore,
        bus: Publisher,
        *,
        asker: Asker | None = None,
        golden_sets: GoldenSets = GoldenSets(),
        concurrency: int = 4,
        tolerances: Mapping[str, Tolerance | float] = DEFAULT_TOLERANCES,
        monitor: Monitor | None = None,
        roller: PromptRoller | None = None,
        rollback_window: timedelta = timedelta(hours=24),
        arrival_wait_s: float = 3.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.asker = asker
        self.golden_sets = golden_sets
        self.concurrency = concurrency
        self.tolerances = tolerances
        self.monitor = monitor
        self.roller = roller
        """With a monitor: a quality alarm on a recently promoted version rolls `production` back."""
        self.promotions = RecentPromotions.within(rollback_window)
        self.arrival_wait_s = arrival_wait_s
        """Feedback may race the interaction's own event: wait this long for it before calling the id unknown."""

    async def on_interaction(self, event: InteractionCompleted) -> None:
        await self.store.remember(
            Interaction(
                interaction_id=event.interaction_id,
                tenant=event.tenant,
                user=event.user,
                prompt_name=event.prompt_name,
                prompt_version=event.prompt_version,
                model=event.model,
                occurred_at=event.occurred_at,
                query=event.query,
                answer=event.answer,
            )
        )
        if self.monitor is not None:
            await self._watch(self._grounding(event, self.monitor))

    async def save_monitor(self) -> None:
        """Saves the drift detectors' state, so a restart continues their baselines instead of relearning them."""
        if self.monitor is not None:
            await self.store.save_monitor(self.monitor.snapshot(), datetime.now(UTC))

    async def restore_monitor(self) -> None:
        """Continues the drift detectors from their saved state (before consuming events)."""
        if self.monitor is None or (saved := await self.store.load_monitor()) is None:
            return
        try:
            restored = self.monitor.restore(saved)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("saved drift state unreadable; detectors start afresh", error=str(exc))
            return
        if not restored:
            log.info("drift settings changed since the state was saved; detectors start afresh")

    async def on_flagged(self, event: GuardrailsFlagged) -> None:
        """A guardrail verdict: blocks count towards the tenant's block rate."""
        await self._watch(self.monitor.on_flagged(event) if self.monitor else None)

    async def _grounding(self, event: InteractionCompleted, monitor: Monitor) -> None:
        alarm = await monitor.on_interaction(event)
        if alarm is not None:
            await self._roll_back_if_promoted(
                event.tenant, event.prompt_name, event.prompt_version, alarm, "groundedness"
            )

    async def submit(self, principal: Principal, submission: Submission) -> str:
        """Stores the feedback and publishes `feedback.v1.received`; the feedback id."""
        interaction = await self._interaction(submission.interaction_id)
        if interaction is None or interaction.tenant != principal.tenant:
            # Another tenant's interaction reads as unknown: its existence is not the caller's business.
            raise NotFound(
                f"interaction {submission.interaction_id!r} is not known in tenant {principal.tenant!r}; send the "
                "interaction_id an Ask returned"
            )
        feedback_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        await self.store.add(feedback_id, principal.tenant, principal.subject, submission, now)
        await self.bus.publish(
            FeedbackReceived(
                tenant=principal.tenant,
                occurred_at=now,
                feedback_id=feedback_id,
                interaction_id=submission.interaction_id,
                user=principal.subject,
                rating=submission.rating,
                categories=[c.value for c in submission.categories],
                comment=submission.comment,
                corrected_answer=submission.corrected_answer,
            )
        )
        log.info("feedback received", interaction_id=submission.interaction_id, rating=submission.rating)
        if self.monitor is not None:
            await self._watch(self._quality(interaction, submission))
        return feedback_id

    async def training_data(self, principal: Principal, since: datetime | None, system: str) -> list[str]:
        """The tenant's corrections and highly rated answers as chat-format JSON lines (masked text, lineage)."""
        rows = await self.store.training_rows(principal.tenant, since)
        examples = (
            training_example(i, feedback_id, rating, correction, system) for i, feedback_id, rating, correction in rows
        )
        return [json.dumps(e, ensure_ascii=False, sort_keys=True) for e in examples if e is not None]

    async def quality_report(
        self, principal: Principal, prompt_name: str, start: datetime | None, end: datetime | None
    ) -> tuple[int, int, dict[str, float]]:
        """(interactions, feedback, metrics) of the caller's tenant over a time range, for one prompt or all."""
        if start is not None and end is not None and end <= start:
            raise InvalidArgument("range.end must be after range.start")
        interactions, feedback = await self.store.quality(principal.tenant, prompt_name, start, end)
        return interactions, len(feedback), quality_metrics(interactions, feedback)

    async def on_prompt_changed(self, event: PromptChanged) -> None:
        """Remembers production moves (the candidates for automatic rollback)."""
        if event.label != PRODUCTION:
            return
        if event.change == PromptChange.LABEL_MOVED and event.previous_version:
            self.promotions.promoted(
                Promotion(event.tenant, event.name, event.version, event.previous_version, event.occurred_at)
            )
        elif event.change == PromptChange.ROLLED_BACK:
            self.promotions.rolled_back(event.tenant, event.name)

    async def _quality(self, interaction: Interaction, submission: Submission) -> None:
        assert self.monitor is not None  # checked by the caller
        tenant, name = interaction.tenant, interaction.prompt_name
        alarm = await self.monitor.on_feedback(tenant, name, submission.rating, submission.interaction_id)
        if alarm is not None:
            await self._roll_back_if_promoted(tenant, name, interaction.prompt_version, alarm, "feedback score")

    async def _roll_back_if_promoted(self, tenant: str, name: str, version: int, alarm: Alarm, what: str) -> None:
        """Moves `production` back when the quality alarm is on a version promoted within the rollback window."""
        if self.roller is None:
            return
        promotion = self.promotions.to_undo(tenant, name, version, datetime.now(UTC))
        if promotion is None:
            return
        before, after = (float(alarm.details.get(k, float("nan"))) for k in ("before_mean", "after_mean"))
        reason = (
            f"automatic rollback: {what} on {name} v{promotion.version} dropped ({before:.2f} → {after:.2f}, "
            f"Page-Hinkley {alarm.statistic:.2f} > {alarm.threshold:.2f}) after it became production"
        )
        now_at = await self.roller.roll_back(tenant, name, PRODUCTION, reason)
        self.promotions.rolled_back(tenant, name)
        log.warning("prompt rolled back", prompt=name, from_version=promotion.version, to_version=now_at)

    async def _watch(self, step: Awaitable[object] | None) -> None:
        """Monitoring is best effort: a detector or embedding failure is logged, never fails the caller."""
        if step is None:
            return
        try:
            await step
        except Exception:  # noqa: BLE001 - the feedback or interaction is already stored
            log.exception("drift monitoring failed")

    async def _interaction(self, interaction_id: str) -> Interaction | None:
        deadline = asyncio.get_running_loop().time() + self.arrival_wait_s
        while True:
            found = await self.store.interaction(interaction_id)
            if found is not None or asyncio.get_running_loop().time() >= deadline:
                return found
            await asyncio.sleep(0.1)

    async def evaluate(
        self, principal: Principal, golden_set: str, golden_set_version: str, prompt_name: str, prompt_version: int,
        model: str,
    ) -> tuple[EvaluationRun, dict[str, MetricDelta]]:  # fmt: skip
        """Runs every golden question through the gateway for this prompt version and model; stores, publishes and
        returns the metrics with their change from the previous run of the set for the prompt."""
        golden = self.golden_sets.load(golden_set)
        if golden_set_version and golden_set_version != golden.version:
            raise FailedPrecondition(
                f"golden set {golden_set} is at version {golden.version}, not {golden_set_version}; pin the current "
                "version or restore the file you meant"
            )
        if self.asker is None:
            raise FailedPrecondition(
                "this feedback service has no gateway to evaluate through: set LLMOPS_FEEDBACK_GATEWAY_URL"
            )
        asker = self.asker
        limit = asyncio.Semaphore(self.concurrency)

        async def run(question: str) -> Observation:
            async with limit:
                return await asker.ask(principal, question, prompt_name, prompt_version, model)

        observations = await asyncio.gather(*(run(item.question) for item in golden.items))
        if all(o.error for o in observations):
            # Nothing was answered (an unknown prompt version, a model not configured): not a quality result.
            raise FailedPrecondition(f"every question of {golden_set} failed, e.g. {observations[0].error}")
        report = evaluate(zip(golden.items, observations, strict=True))
        previous = await self.store.last_evaluation(principal.tenant, golden_set, prompt_name)
        run_record = EvaluationRun(
            evaluation_id=str(uuid.uuid4()), tenant=principal.tenant, golden_set=golden_set,
            golden_set_version=golden.version, prompt_name=prompt_name, prompt_version=prompt_version, model=model,
            metrics=report.metrics, requested_by=principal.subject, finished_at=datetime.now(UTC),
        )  # fmt: skip
        await self.store.add_evaluation(run_record)
        await self.bus.publish(
            EvaluationCompleted(
                tenant=principal.tenant, evaluation_id=run_record.evaluation_id, golden_set=golden_set,
                golden_set_version=golden.version, prompt_name=prompt_name, prompt_version=prompt_version, model=model,
                metrics=report.metrics, previous=previous.metrics if previous else {}, requested_by=principal.subject,
            )
        )  # fmt: skip
        log.info("evaluation finished", golden_set=golden_set, prompt=prompt_name, version=prompt_version)
        return run_record, diff(previous.metrics if previous else {}, report.metrics)

    async def check_promotion(
        self, principal: Principal, prompt_name: str, candidate: int, production: int, golden_set: str
    ) -> PromotionVerdict:
        """May `candidate` take the production label? Judged on both versions' latest evaluations on the set."""
        if candidate <= 0:
            raise InvalidArgument(f"candidate_version must be positive, got {candidate}")
        self.golden_sets.load(golden_set)  # an unknown set is the caller's mistake, not a refusal
        tenant = principal.tenant
        mine = await self.store.last_evaluation(tenant, golden_set, prompt_name, candidate)
        if mine is None:
            return PromotionVerdict(
                False,
                f"{prompt_name} v{candidate} has no evaluation on {golden_set}; run `llmops eval {golden_set} "
                f"--prompt {prompt_name} --version {candidate}` first",
            )
        if production <= 0 or production == candidate:
            return PromotionVerdict(True, "no production version to compare with", candidate_evaluation=mine)
        theirs = await self.store.last_evaluation(tenant, golden_set, prompt_name, production)
        if theirs is None:
            return PromotionVerdict(
                False,
                f"production {prompt_name} v{production} has no evaluation on {golden_set} to compare with; run "
                f"`llmops eval {golden_set} --prompt {prompt_name} --version {production}`",
                candidate_evaluation=mine,
            )
        failures = gate(mine.metrics, theirs.metrics, self.tolerances)
        if failures:
            worse = "; ".join(str(f) for f in failures)
            return PromotionVerdict(
                False, f"v{candidate} is worse than production v{production} on {golden_set}: {worse}", failures,
                mine, theirs,
            )  # fmt: skip
        return PromotionVerdict(True, f"v{candidate} is not worse than v{production} on {golden_set}", [], mine, theirs)
