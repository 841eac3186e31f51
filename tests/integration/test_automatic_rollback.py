"""Automatic rollback between real services: a worse prompt version takes `production` without the gate, its
feedback drops, the Page-Hinkley detector fires, and the label goes back — all seen as events on the bus."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from llmops.api.inference.v1 import inference_pb2_grpc
from llmops.auth import Principal
from llmops.bus import Bus, EventContext
from llmops.events import DriftAlert, PromptChange, PromptChanged
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


async def test_a_worse_version_promoted_without_the_gate_is_rolled_back_by_its_feedback(
    bus: Bus, tmp_path: Path
) -> None:
    changes: list[PromptChanged] = []
    alerts: list[DriftAlert] = []

    async def seen(event: PromptChanged, ctx: EventContext) -> None:
        changes.append(event)

    async def alerted(event: DriftAlert, ctx: EventContext) -> None:
        alerts.append(event)

    registry = PromptRegistry(open_prompt_store(bus), bus)  # no gate: the bad version gets through
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
        for template in ("Summarise {{text}}", "Summarise badly {{text}}"):
            await registry.create(ANA, Draft(name="summary", template=template, variables=[Variable(name="text")]))
        await registry.set_label(ANA, "summary", PRODUCTION, 1)
        rng = random.Random(11)

        async def rate(version: int, n: int, p_up: float, first: int) -> None:
            for i in range(first, first + n):
                interaction = Interaction(f"i{i}", "acme", "u", "summary", version, "m", datetime.now(UTC))
                await store.remember(interaction)
                submission = validate_submission(f"i{i}", 1.0 if rng.random() < p_up else 0.0, "thumbs", [], "", "")
                await app.submit(ANA, submission)

        await rate(1, 300, 0.85, 0)
        await registry.set_label(ANA, "summary", PRODUCTION, 2, reason="looks better")
        async with asyncio.timeout(15):
            while app.promotions.to_undo("acme", "summary", 2, datetime.now(UTC)) is None:
                await asyncio.sleep(0.05)  # the feedback service has seen the move on the bus

        await rate(2, 300, 0.40, 300)
        async with asyncio.timeout(15):
            while not any(c.change == PromptChange.ROLLED_BACK for c in changes):
                await asyncio.sleep(0.05)
        (rollback,) = [c for c in changes if c.change == PromptChange.ROLLED_BACK]
        assert (rollback.version, rollback.previous_version, rollback.changed_by) == (1, 2, "llmops-feedback")
        assert rollback.reason.startswith("automatic rollback: feedback score on summary v2 dropped")
        assert (await registry.store.head("acme", "summary")).label_version(PRODUCTION) == 1
        async with asyncio.timeout(15):
            while not alerts:
                await asyncio.sleep(0.05)
        assert alerts[0].evidence["metric"] == "feedback_score:summary"
    finally:
        await channel.close()
        await server.stop(0)
        await store.close()
