"""The inference use case's fallback rules, with scripted generators (no servers: pure control flow)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest

from llmops.auth import Principal
from llmops.errors import DeadlineExceeded, FailedPrecondition, Unavailable
from services.inference.adapters.tokenizer import EstimatingCounter
from services.inference.app import Inference, Model
from services.inference.core import Completion, Limits, Message, Parameters, Piece, Pricing
from services.inference.routing import RouteRule

pytestmark = pytest.mark.unit

ANA = Principal(tenant="acme", subject="ana")


class Scripted:
    """Yields its pieces, then raises `error` if set."""

    def __init__(self, pieces: list[str], error: Exception | None = None) -> None:
        self.pieces = pieces
        self.error = error
        self.calls = 0

    async def stream(self, prompt: str, params: Parameters, *, timeout_s: float | None = None) -> AsyncGenerator[Piece]:
        self.calls += 1
        for text in self.pieces:
            yield Piece(text)
        if self.error is not None:
            raise self.error


class Ledger:
    """Budgets that remember every charge."""

    def __init__(self) -> None:
        self.charges: list[tuple[str, int]] = []

    async def check(self, tenant: str) -> None:
        return None

    async def record(self, tenant: str, tokens: int, cost_usd: float) -> None:
        self.charges.append((tenant, tokens))


def app(*generators: Scripted, budgets: Ledger | None = None) -> Inference:
    models = {
        f"m{i}": Model(f"m{i}", g, EstimatingCounter(), Pricing(1.0, 2.0), f"served-m{i}")
        for i, g in enumerate(generators)
    }
    return Inference(models, [RouteRule(name="r", models=list(models))], limits=Limits(), budgets=budgets)


async def run(inference: Inference) -> list[str | Completion]:
    return [item async for item in inference.stream(ANA, [Message("user", "hi")], Parameters(max_tokens=8))]


async def test_a_failure_after_text_went_out_is_an_error_not_a_truncated_answer_or_a_fallback() -> None:
    first, second = Scripted(["Half ", "an "], Unavailable("Triton went away")), Scripted(["other"])
    received: list[str | Completion] = []
    with pytest.raises(Unavailable, match="Triton went away"):
        async for item in app(first, second).stream(ANA, [Message("user", "hi")], Parameters(max_tokens=8)):
            received.append(item)  # noqa: PERF401 - a comprehension would lose what arrived before the error
    assert received == ["Half ", "an "] and second.calls == 0


@pytest.mark.parametrize("error", [Unavailable("down"), DeadlineExceeded("slow")])
async def test_a_failure_before_the_first_piece_falls_back_and_is_recorded(error: Exception) -> None:
    items = await run(app(Scripted([], error), Scripted(["Fine."])))
    completion = items[-1]
    assert items[:-1] == ["Fine."]
    assert isinstance(completion, Completion)
    assert (completion.text, completion.model, completion.failed_models) == ("Fine.", "served-m1", ("m0",))
    prompt_tokens, completion_tokens = completion.usage.prompt_tokens, completion.usage.completion_tokens
    assert completion.usage.cost_usd == pytest.approx((prompt_tokens * 1.0 + completion_tokens * 2.0) / 1000)


async def test_a_request_the_model_rejects_is_not_retried_elsewhere() -> None:
    fallback = Scripted(["x"])
    with pytest.raises(FailedPrecondition):
        await run(app(Scripted([], FailedPrecondition("bad stop words")), fallback))
    assert fallback.calls == 0


async def test_tokens_generated_before_a_failure_or_a_disconnect_are_still_charged() -> None:
    ledger = Ledger()
    with pytest.raises(Unavailable):
        await run(app(Scripted(["Half ", "an "], Unavailable("gone")), budgets=ledger))
    assert len(ledger.charges) == 1 and ledger.charges[0][1] > 0

    ledger = Ledger()
    stream = app(Scripted(["One ", "two ", "three."]), budgets=ledger).stream(
        ANA, [Message("user", "hi")], Parameters(max_tokens=8)
    )
    assert await anext(stream) == "One "
    await stream.aclose()  # the caller went away after the first piece
    assert len(ledger.charges) == 1

    ledger = Ledger()
    await run(app(Scripted(["Whole."]), budgets=ledger))
    assert len(ledger.charges) == 1  # a finished answer is charged once, not twice
