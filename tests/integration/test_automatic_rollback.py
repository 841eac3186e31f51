"""Automatic rollback between real services: a worse prompt version takes `production` without the gate, its
feedback drops, the Page-Hinkley detector fires, and the label goes back — all seen as events on the bus."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from llmops.api.inference.v1 import inference_pb2_grpc
from llmops.auth import Principal
from llmops.bus import Bus, EventContext
from llmops.events import DriftAlert, InteractionCompleted, PromptChange, PromptChanged, Usage
from llmops.prompts.core import PRODUCTION, Variable
from llmops.prompts.store import open_prompt_store
from llmops.testing import free_port
from services.feedback import handlers
from services.feedback.adapters.prompts import GrpcPromptRoller
from services.feedback.adapters.store import FeedbackStore
from services.feedback.app import FeedbackApp
from services.feedback.core import Interaction, validate_submission
from services.feedback.monitoring import Monitor
from services.inference.grpc_api import PromptsServicer
from services.inference.prompts import Draft, PromptRegistry

pytestmark = pytest.mark.integration

ANA = Principal(tenant="acme", subject="ana")


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    instance = Bus(nats_url, "tests")
    yield instance
    await instance.stop()


@dataclass
class Harness:
    registry: PromptRegistry
    app: FeedbackApp
    store: FeedbackStore
    changes: list[PromptChanged]
    alerts: list[DriftAlert]

    async def promote_worse_version(self) -> None:
        """Creates v1 and a worse v2 of the prompt and puts v1 in production."""
        for template in ("Summarise {{text}}", "Summarise badly {{text}}"):
            await self.registry.create(ANA, Draft(name="summary", template=template, variables=[Variable(name="text")]))
        await self.registry.set_label(ANA, "summary", PRODUCTION, 1)

    async def move_to(self, version: int) -> None:
        await self.registry.set_label(ANA, "summary", PRODUCTION, version, reason="looks better")
        async with asyncio.timeout(15):
            while self.app.promotions.to_undo("acme", "summary", version, datetime.now(UTC)) is None:
                await asyncio.sleep(0.05)  # the feedback service has seen the move on the bus

    async def rolled_back(self) -> PromptChanged:
        async with asyncio.timeout(15):
            while not any(c.change == PromptChange.ROLLED_BACK for c in self.changes):
                await asyncio.sleep(0.05)
        (rollback,) = [c for c in self.changes if c.change == PromptChange.ROLLED_BACK]
        assert (rollback.version, rollback.previous_version, rollback.changed_by) == (1, 2, "llmops-feedback")
        assert (await self.registry.store.head("acme", "summary")).label_version(PRODUCTION) == 1
        async with asyncio.timeout(15):
            while not self.alerts:
                await asyncio.sleep(0.05)
        return rollback


@pytest.fixture
async def harness(bus: Bus, tmp_path: Path) -> AsyncIterator[Harness]:
    """The prompt registry behind a real Prompts gRPC server (no promotion gate: the bad version gets through), and
    the feedback app rolling back through it, both on the bus."""
    changes: list[PromptChanged] = []
    alerts: list[DriftAlert] = []

    async def seen(event: PromptChanged, ctx: EventContext) -> None:
        changes.append(event)

    async def alerted(event: DriftAlert, ctx: EventContext) -> None:
        alerts.append(event)

    registry = PromptRegistry(open_prompt_store(bus), bus)
    server = grpc.aio.server()
    inference_pb2_grpc.add_PromptsServicer_to_server(PromptsServicer(registry, "default"), server)
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    channel = grpc.aio.insecure_channel(address)
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    app = FeedbackApp(store, bus, monitor=Monitor(bus.publish), roller=GrpcPromptRoller(channel))
    handlers.register(bus, app)
    bus.subscribe(PromptChanged, seen, durable="test-prompts")
    bus.subscribe(DriftAlert, alerted, durable="test-alerts")
    await bus.start()
    try:
        yield Harness(registry, app, store, changes, alerts)
    finally:
        await channel.close()
        await server.stop(0)
        await store.close()


async def test_a_worse_version_promoted_without_the_gate_is_rolled_back_by_its_feedback(harness: Harness) -> None:
    rng = random.Random(11)

    async def rate(version: int, n: int, p_up: float, first: int) -> None:
        for i in range(first, first + n):
            interaction = Interaction(f"i{i}", "acme", "u", "summary", version, "m", datetime.now(UTC))
            await harness.store.remember(interaction)
            submission = validate_submission(f"i{i}", 1.0 if rng.random() < p_up else 0.0, "thumbs", [], "", "")
            await harness.app.submit(ANA, submission)

    await harness.promote_worse_version()
    await rate(1, 300, 0.85, 0)
    await harness.move_to(2)
    await rate(2, 300, 0.40, 300)
    rollback = await harness.rolled_back()
    assert rollback.reason.startswith("automatic rollback: feedback score on summary v2 dropped")
    assert harness.alerts[0].evidence["metric"] == "feedback_score:summary"


async def test_a_worse_version_is_rolled_back_when_its_answers_lose_their_grounding(bus: Bus, harness: Harness) -> None:
    """No one rates anything: the answers' groundedness (from the output guardrails, on interactions.v1.completed)
    falls after the move, and that alone rolls the label back."""
    rng = random.Random(5)

    async def answer(version: int, n: int, unsupported_share: float, first: int) -> None:
        for i in range(first, first + n):
            grounded = 1.0 if rng.random() >= unsupported_share else rng.uniform(0.4, 0.8)
            await bus.publish(
                InteractionCompleted(
                    tenant="acme",
                    interaction_id=f"g{i}",
                    user="u",
                    query="q",
                    answer="a",
                    citations=[],
                    model="m",
                    prompt_name="summary",
                    prompt_version=version,
                    usage=Usage(),
                    retrieve_ms=1,
                    generate_ms=1,
                    total_ms=1,
                    groundedness=grounded,
                )  # fmt: skip
            )

    await harness.promote_worse_version()
    await answer(1, 300, 0.05, 0)
    await harness.move_to(2)
    await answer(2, 400, 0.60, 300)
    rollback = await harness.rolled_back()
    assert rollback.reason.startswith("automatic rollback: groundedness on summary v2 dropped")
    assert [a.evidence["metric"] for a in harness.alerts] == ["groundedness:summary"]
