"""Gated promotion end to end between real services: the prompt registry (NATS KV) asks the feedback service
(gRPC, SQLite) before `production` moves; refusals name the metric; rollback is never gated."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from llmops.api.feedback.v1 import feedback_pb2_grpc
from llmops.auth import Principal
from llmops.bus import Bus
from llmops.errors import FailedPrecondition, Unavailable
from llmops.prompts.core import PRODUCTION, Variable
from llmops.prompts.store import open_prompt_store
from llmops.testing import free_port
from services.feedback.adapters.store import FeedbackStore
from services.feedback.app import FeedbackApp
from services.feedback.core import EvaluationRun
from services.feedback.grpc_api import FeedbackServicer
from services.inference.adapters.promotion import FeedbackPromotionGate
from services.inference.prompts import Draft, PromptRegistry

pytestmark = pytest.mark.integration

ANA = Principal(tenant="acme", subject="ana")
SET = "cpython-docs-v1"
GOOD = {"hit@5": 0.95, "groundedness": 0.9, "error_rate": 0.0, "latency_p95_ms": 800.0}


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    instance = Bus(nats_url, "tests")
    await instance.start()
    yield instance
    await instance.stop()


@pytest.fixture
async def feedback(tmp_path: Path, bus: Bus) -> AsyncIterator[tuple[FeedbackStore, str]]:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    server = grpc.aio.server()
    feedback_pb2_grpc.add_FeedbackServicer_to_server(FeedbackServicer(FeedbackApp(store, bus), "default"), server)
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    yield store, address
    await server.stop(0)
    await store.close()


async def evaluated(store: FeedbackStore, version: int, metrics: dict[str, float], age_s: int = 0) -> None:
    await store.add_evaluation(
        EvaluationRun(
            str(uuid.uuid4()),
            "acme",
            SET,
            "v",
            "summary",
            version,
            "",
            metrics,
            "ana",
            datetime.now(UTC) - timedelta(seconds=age_s),
        )  # fmt: skip
    )


async def test_production_moves_only_to_a_version_evaluated_no_worse(
    bus: Bus, feedback: tuple[FeedbackStore, str]
) -> None:
    store, address = feedback
    channel = grpc.aio.insecure_channel(address)
    registry = PromptRegistry(open_prompt_store(bus), bus, gate=FeedbackPromotionGate(channel, SET))
    for template in ("Summarise {{text}}", "Briefly: {{text}}", "In short: {{text}}"):  # v1, v2, v3
        await registry.create(ANA, Draft(name="summary", template=template, variables=[Variable(name="text")]))

    with pytest.raises(FailedPrecondition, match="v1 has no evaluation on cpython-docs-v1; run `llmops eval"):
        await registry.set_label(ANA, "summary", PRODUCTION, 1)
    await evaluated(store, 1, GOOD)
    await registry.set_label(ANA, "summary", PRODUCTION, 1)  # nothing in production yet: its own evaluation suffices

    await evaluated(store, 2, {**GOOD, "hit@5": 0.80}, age_s=5)
    with pytest.raises(FailedPrecondition, match="worse than production v1 on cpython-docs-v1: hit@5"):
        await registry.set_label(ANA, "summary", PRODUCTION, 2)
    await evaluated(store, 2, {**GOOD, "hit@5": 0.93})  # a newer run within the tolerance (0.03)
    await registry.set_label(ANA, "summary", PRODUCTION, 2)

    await registry.set_label(ANA, "summary", "staging", 3)  # other labels are not gated
    version, head = await registry.rollback(ANA, "summary", PRODUCTION, "back to v1")  # nor is going back
    assert version.version == 1 and head.label_version(PRODUCTION) == 1
    await channel.close()


async def test_an_unreachable_gate_leaves_production_where_it_was(bus: Bus) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    registry = PromptRegistry(open_prompt_store(bus), bus, gate=FeedbackPromotionGate(channel, SET, timeout_s=1))
    draft = Draft(name="summary", template="Summarise {{text}}", variables=[Variable(name="text")])
    await registry.create(ANA, draft)
    with pytest.raises(Unavailable, match="promotion gate"):
        await registry.set_label(ANA, "summary", PRODUCTION, 1)
    assert (await registry.store.head("acme", "summary")).label_version(PRODUCTION) is None
    await channel.close()
