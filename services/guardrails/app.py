"""Guardrails' use cases: pick the policy, run the scanners off the event loop, publish what was flagged."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from llmops.errors import DeadlineExceeded, FailedPrecondition
from llmops.events import Event, GuardrailsFlagged, GuardrailsPolicyChanged
from llmops.logging import get_logger
from llmops.observability.metrics import count_verdict
from services.guardrails import core
from services.guardrails.core import Verdict
from services.guardrails.policy import Action, Policy, PolicyChange, PolicySet, Topic
from services.guardrails.scanners import Finding
from services.guardrails.topics import QUERY_CHARS, Matrix, TopicVectors, scan_topics, unit_rows

log = get_logger(__name__)


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...


class Embedder(Protocol):
    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class Guardrails:
    """Checks inputs, outputs and documents under the caller's tenant and application policy."""

    def __init__(
        self, policies: PolicySet, bus: Publisher, embedder: Embedder | None = None, budget_s: float = 2.0
    ) -> None:
        self.policies = policies
        self.bus = bus
        self.embedder = embedder
        self.budget_s = budget_s
        """The most one check may take; past it the check fails (the gateway then fails closed)."""
        self._topic_vectors: dict[tuple[str, int, str, str], TopicVectors] = {}

    def policy(self, tenant: str, application: str) -> Policy:
        return self.policies.for_request(tenant, application or "*")

    async def check_input(self, tenant: str, application: str, text: str, interaction_id: str = "") -> Verdict:
        core.validate_text(text, "text")
        policy = self.policy(tenant, application)

        async def check() -> Verdict:
            # The topic match waits on the embedding service while the in-process scanners run in a thread.
            judged, topics = await asyncio.gather(
                asyncio.to_thread(core.scan_input, text, policy), self._topics(policy, text)
            )
            return core.input_verdict(text, policy, [*core.judge_topics(topics, policy), *judged], salt=tenant)

        return await self._run("input", tenant, interaction_id, check)

    async def _topics(self, policy: Policy, text: str) -> list[Finding]:
        """Topic findings by embedding similarity, when the policy lists topics."""
        rules = policy.input.topics
        if not rules.rule.enabled:
            return []
        if self.embedder is None:
            raise FailedPrecondition(
                f"policy {policy.policy_id} v{policy.version} lists topics, but the guardrails service has no "
                "embedding service to match them: set LLMOPS_GUARDRAILS_EMBEDDING_URL"
            )
        key = (policy.policy_id, policy.version, policy.tenant, policy.application)
        if key not in self._topic_vectors:
            self._topic_vectors[key] = TopicVectors(
                deny=await self._embed_topics(rules.deny), allow=await self._embed_topics(rules.allow)
            )
        [query] = await self.embedder.embed([text[:QUERY_CHARS]])
        return scan_topics(query, self._topic_vectors[key], rules.similarity, len(text))

    async def _embed_topics(self, topics: Sequence[Topic]) -> dict[str, Matrix]:
        assert self.embedder is not None  # checked by the caller
        return {topic.name: unit_rows(await self.embedder.embed(topic.texts())) for topic in topics}

    async def check_document(self, tenant: str, application: str, text: str) -> Verdict:
        core.validate_text(text, "text")
        policy = self.policy(tenant, application)
        return await self._run("document", tenant, "", lambda: asyncio.to_thread(core.check_document, text, policy))

    async def check_output(
        self,
        tenant: str,
        application: str,
        answer: str,
        sources: Mapping[int, str],
        canary: str = "",
        interaction_id: str = "",
    ) -> Verdict:
        core.validate_text(answer, "answer")
        policy = self.policy(tenant, application)
        return await self._run(
            "output",
            tenant,
            interaction_id,
            lambda: asyncio.to_thread(core.check_output, answer, sources, canary, policy, tenant),
        )

    async def _run(
        self, stage: str, tenant: str, interaction_id: str, check: Callable[[], Awaitable[Verdict]]
    ) -> Verdict:
        started = time.perf_counter()
        # Scanning a long text takes milliseconds: worker threads keep the event loop answering.
        try:
            verdict = await asyncio.wait_for(check(), self.budget_s)
        except TimeoutError:
            raise DeadlineExceeded(
                f"the guardrail checks took longer than their {self.budget_s:g} s budget; nothing was decided"
            ) from None
        verdict = replace(verdict, extra={"latency_ms": f"{(time.perf_counter() - started) * 1000:.3f}"})
        count_verdict(stage, verdict.action.name.lower())
        if verdict.action != Action.ALLOW:
            await self.bus.publish(flagged_event(tenant, interaction_id, verdict))
        return verdict


def flagged_event(tenant: str, interaction_id: str, verdict: Verdict) -> GuardrailsFlagged:
    """The event for a block or redaction: findings without the flagged text itself (it may be personal data)."""
    return GuardrailsFlagged(
        tenant=tenant,
        check_id=str(uuid.uuid4()),
        stage=verdict.stage,
        action=verdict.action.name.lower(),
        policy_id=verdict.policy_id,
        policy_version=verdict.policy_version,
        findings=[
            {
                "scanner": j.finding.scanner,
                "category": j.finding.category,
                "score": j.finding.score,
                "start": j.finding.start,
                "end": j.finding.end,
                "action": j.action.name.lower(),
            }
            for j in verdict.findings
            if j.action != Action.ALLOW
        ],
        interaction_id=interaction_id,
    )


def policy_event(change: PolicyChange) -> GuardrailsPolicyChanged:
    """The event of a policy activation or rejection (the audit log's record of an administrative change)."""
    return GuardrailsPolicyChanged(
        tenant=change.tenant,
        policy_id=change.policy_id,
        version=change.version,
        application=change.application,
        outcome=change.outcome,
        source=change.source,
        content_sha256=change.content_sha256,
        error=change.error[:2000],
    )
