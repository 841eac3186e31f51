"""Guardrails' use cases: pick the policy, run the scanners off the event loop, publish what was flagged."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from llmops.events import GuardrailsFlagged
from llmops.logging import get_logger
from services.guardrails import core
from services.guardrails.core import Verdict
from services.guardrails.policy import Action, Policy, PolicySet

log = get_logger(__name__)


class Publisher(Protocol):
    async def publish(self, event: GuardrailsFlagged) -> None: ...


class Guardrails:
    """Checks inputs, outputs and documents under the caller's tenant and application policy."""

    def __init__(self, policies: PolicySet, bus: Publisher) -> None:
        self.policies = policies
        self.bus = bus

    def policy(self, tenant: str, application: str) -> Policy:
        return self.policies.for_request(tenant, application or "*")

    async def check_input(self, tenant: str, application: str, text: str, interaction_id: str = "") -> Verdict:
        core.validate_text(text, "text")
        policy = self.policy(tenant, application)
        return await self._run(tenant, interaction_id, lambda: core.check_input(text, policy))

    async def check_document(self, tenant: str, application: str, text: str) -> Verdict:
        core.validate_text(text, "text")
        policy = self.policy(tenant, application)
        return await self._run(tenant, "", lambda: core.check_document(text, policy))

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
        return await self._run(tenant, interaction_id, lambda: core.check_output(answer, sources, canary, policy))

    async def _run(self, tenant: str, interaction_id: str, check: core.Check) -> Verdict:
        started = time.perf_counter()
        # Regex scanning of a long text takes milliseconds: a worker thread keeps the event loop answering.
        verdict = await asyncio.to_thread(check)
        verdict = replace(verdict, extra={"latency_ms": f"{(time.perf_counter() - started) * 1000:.3f}"})
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
