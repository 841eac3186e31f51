"""The inference use case on a real Triton (PyTriton) and a real nats-server: routes, fallbacks, budgets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from nats.js.api import StorageType

from llmops.auth import Principal
from llmops.bus import Bus, EventContext
from llmops.errors import ResourceExhausted, Unavailable
from llmops.events import BudgetAlert
from llmops.testing import TritonServer, free_port
from services.inference.adapters import budget_store
from services.inference.adapters.budget_store import BudgetStore
from services.inference.adapters.tokenizer import EstimatingCounter
from services.inference.adapters.triton import TritonGenerator
from services.inference.app import BudgetGuard, Inference, Model
from services.inference.budget import Budget
from services.inference.core import Completion, Limits, Message, Parameters, Pricing
from services.inference.resilience import RetryPolicy
from services.inference.routing import RouteRule

pytestmark = pytest.mark.integration

ANA = Principal(tenant="acme", subject="ana")
QUESTION = [
    Message(
        "user",
        "Sources:\n[1] (Lists) Lists are mutable sequences.\n[2] (Tuples) Tuples are immutable sequences.\n\n"
        "Question: Are tuples immutable?\n",
    )
]


def model(name: str, url: str, triton_model: str = "ensemble", price: float = 0.0) -> Model:
    generator = TritonGenerator(url, triton_model, timeout_s=10, retry=RetryPolicy(attempts=2, base_delay_s=0.01))
    return Model(name, generator, EstimatingCounter(), Pricing(price, price), served_as=f"served-{name}")


async def answer(app: Inference, principal: Principal = ANA, messages: list[Message] = QUESTION) -> Completion:
    items = [item async for item in app.stream(principal, messages, Parameters(max_tokens=32))]
    assert isinstance(items[-1], Completion)
    return items[-1]


@pytest.fixture
async def models(triton_server: TritonServer) -> AsyncIterator[dict[str, Model]]:
    down = f"127.0.0.1:{free_port()}"
    built = {
        "down": model("down", down),
        "stream": model("stream", triton_server.grpc_url),
        "unary": model("unary", triton_server.grpc_url, "ensemble_unary"),
    }
    yield built
    for m in built.values():
        assert isinstance(m.generator, TritonGenerator)
        await m.generator.close()


async def test_an_unavailable_model_falls_back_to_the_next_in_its_route(models: dict[str, Model]) -> None:
    app = Inference(models, [RouteRule(name="default", models=["down", "stream"])], limits=Limits())
    completion = await answer(app)
    assert completion.text == "Tuples are immutable sequences. [2]"
    assert (completion.model, completion.route, completion.failed_models) == ("served-stream", "default", ("down",))


async def test_when_every_model_fails_the_error_names_them_all(models: dict[str, Model]) -> None:
    app = Inference({"down": models["down"]}, [RouteRule(name="only", models=["down", "down"])], limits=Limits())
    with pytest.raises(Unavailable, match=r"after down failed too"):
        await answer(app)


async def test_hard_requests_route_to_the_large_model_and_easy_ones_to_the_small(models: dict[str, Model]) -> None:
    routes = [
        RouteRule(name="hard", min_complexity=0.3, models=["unary"]),
        RouteRule(name="easy", models=["stream"]),
    ]
    app = Inference(models, routes, limits=Limits())
    easy = await answer(app)
    hard_question = QUESTION[0].content.replace(
        "Are tuples immutable?",
        "Compare tuples and lists, explain why tuples are immutable and analyse the trade-offs?",
    )
    hard = await answer(app, messages=[Message("user", hard_question)])
    assert (easy.route, easy.model) == ("easy", "served-stream")
    assert (hard.route, hard.model) == ("hard", "served-unary")


async def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


async def test_a_spent_budget_is_refused_after_alerts_at_80_and_100_percent(
    models: dict[str, Model], nats_url: str
) -> None:
    bus = Bus(nats_url, "tests")
    alerts: list[BudgetAlert] = []

    async def on_alert(event: BudgetAlert, ctx: EventContext) -> None:
        alerts.append(event)

    bus.subscribe(BudgetAlert, on_alert, durable="budget-watcher")
    await bus.start()
    try:
        store = BudgetStore(lambda: bus.broker.key_value(budget_store.BUCKET, storage=StorageType.FILE))
        first = await answer(Inference(models, [RouteRule(name="d", models=["stream"])], limits=Limits()))
        per_request = first.usage.total_tokens
        # A budget that the first request takes past 80% and the second past 100%.
        guard = BudgetGuard(store, {"*": Budget(daily_tokens=int(per_request * 1.2))}, bus)
        app = Inference(models, [RouteRule(name="d", models=["stream"])], limits=Limits(), budgets=guard)
        await answer(app)
        await wait_for(lambda: [a.threshold_percent for a in alerts] == [80])
        await answer(app)
        await wait_for(lambda: [a.threshold_percent for a in alerts] == [80, 100])
        with pytest.raises(ResourceExhausted, match="tenant acme has used its daily budget"):
            await answer(app)
        await answer(app, principal=Principal(tenant="globex", subject="bob"))  # other tenants are unaffected
        assert alerts[1].metric == "tokens" and alerts[1].spent == 2 * per_request
        assert (await store.spend("acme", alerts[0].day)).tokens == 2 * per_request
    finally:
        await bus.stop()


async def test_concurrent_replicas_count_every_token(nats_url: str) -> None:
    bus = Bus(nats_url, "tests")
    await bus.start()
    try:
        stores = [
            BudgetStore(lambda: bus.broker.key_value(budget_store.BUCKET, storage=StorageType.FILE)) for _ in range(3)
        ]
        budget = Budget(daily_tokens=10_000)
        crossings = await asyncio.gather(
            *(stores[i % 3].add("acme", "2026-11-23", 100, 0.01, budget) for i in range(60))
        )
        spend = await stores[0].spend("acme", "2026-11-23")
        assert (spend.tokens, round(spend.cost_usd, 6)) == (6000, 0.6)
        assert sum(len(c) for c in crossings) == 0
    finally:
        await bus.stop()
