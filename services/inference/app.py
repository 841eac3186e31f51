"""Inference's use case: render, route, generate on Triton with fallbacks, account tokens, cost and budgets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from llmops.auth import Principal
from llmops.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, Unavailable
from llmops.events import BudgetAlert, utcnow
from llmops.logging import get_logger
from llmops.observability.metrics import record_usage
from llmops.prompts.core import ModelParameters, render
from llmops.prompts.store import PromptCatalog
from services.inference.adapters.budget_store import BudgetStore
from services.inference.adapters.tokenizer import TokenCounter
from services.inference.budget import Budget, budget_for, check, day_of
from services.inference.core import (
    CHATML_STOP,
    Completion,
    Limits,
    Message,
    Parameters,
    Piece,
    Pricing,
    PromptUse,
    Usage,
    estimate_tokens,
    finish_reason,
    render_chatml,
    usage,
    validate_messages,
)
from services.inference.routing import RouteRule, choose, estimate_complexity, validate_routes

log = get_logger(__name__)


class Generator(Protocol):
    """A text generator (Triton in every deployment)."""

    def stream(self, prompt: str, params: Parameters, *, timeout_s: float | None = None) -> AsyncGenerator[Piece]: ...


@dataclass(frozen=True)
class Model:
    """One configured model: how to call it, count its tokens and price them."""

    name: str
    generator: Generator
    counter: TokenCounter
    pricing: Pricing
    served_as: str
    """The model's own name, reported in responses and events."""


@dataclass(frozen=True)
class RenderedPrompt:
    """A registered prompt filled in for one request."""

    messages: list[Message]
    defaults: ModelParameters
    use: PromptUse
    model: str


class Publisher(Protocol):
    async def publish(self, event: BudgetAlert) -> None: ...


class Budgets(Protocol):
    """Refuses a tenant past its budget; records what each request spent."""

    async def check(self, tenant: str) -> None: ...
    async def record(self, tenant: str, tokens: int, cost_usd: float) -> None: ...


class BudgetGuard:
    """Refuses tenants whose daily budget is spent, counts usage, and raises the 80% / 100% alerts."""

    def __init__(
        self,
        store: BudgetStore,
        budgets: Mapping[str, Budget],
        bus: Publisher,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.budgets = budgets
        self.bus = bus
        self.clock = clock

    async def check(self, tenant: str) -> None:
        budget = budget_for(self.budgets, tenant)
        if budget.daily_tokens or budget.daily_cost_usd:
            check(tenant, budget, await self.store.spend(tenant, day_of(self.clock())))

    async def record(self, tenant: str, tokens: int, cost_usd: float) -> None:
        day = day_of(self.clock())
        budget = budget_for(self.budgets, tenant)
        for crossing in await self.store.add(tenant, day, tokens, cost_usd, budget):
            log.warning("budget threshold reached", tenant=tenant, metric=crossing.metric, percent=crossing.percent)
            await self.bus.publish(
                BudgetAlert(
                    tenant=tenant,
                    day=day,
                    metric=crossing.metric,
                    threshold_percent=crossing.percent,
                    spent=crossing.spent,
                    budget=crossing.budget,
                )
            )


class Inference:
    """Generates completions for chat messages or registered prompts."""

    def __init__(
        self,
        models: Mapping[str, Model],
        routes: Sequence[RouteRule],
        *,
        limits: Limits,
        catalog: PromptCatalog | None = None,
        budgets: Budgets | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        validate_routes(routes, models)
        self.models = models
        self.routes = routes
        self.limits = limits
        self.catalog = catalog
        self.budgets = budgets
        self.timeout_s = timeout_s

    async def render(
        self, principal: Principal, name: str, variables: Mapping[str, str], *, label: str = "", version: int = 0
    ) -> RenderedPrompt:
        """The messages of a registered prompt: an explicit version, else a label, else the user's A/B label."""
        if self.catalog is None:
            raise FailedPrecondition("this inference service runs without a prompt registry; send messages")
        if not name.strip():
            raise InvalidArgument("prompt.name is empty; name a registered prompt (see `llmops prompts list`)")
        if version < 0:
            raise InvalidArgument("prompt.version must be positive (0 = use the label)")
        found, via = await self.catalog.resolve(
            principal.tenant, name.strip(), label=label.strip(), version=version, user=principal.subject
        )
        messages = [Message(role, content) for role, content in render(found, variables)]
        return RenderedPrompt(messages, found.parameters, PromptUse(found.name, found.version, via), found.model)

    async def stream(
        self,
        principal: Principal,
        messages: Sequence[Message],
        params: Parameters,
        *,
        prompt_use: PromptUse | None = None,
        model: str = "",
        timeout_s: float | None = None,
    ) -> AsyncGenerator[str | Completion]:
        """Yields text pieces, then the finished Completion.

        The route's models are tried in order: one that is unavailable, times out or has its circuit open
        before its first piece hands the request to the next. Once text has gone out, a failure is final.
        """
        validate_messages(messages, self.limits)
        if self.budgets is not None:
            await self.budgets.check(principal.tenant)
        prompt = render_chatml(messages)
        params = Parameters(**{**params.__dict__, "stop_words": (*params.stop_words, *CHATML_STOP)})
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        use = prompt_use or PromptUse()
        route, chain = choose(
            self.routes,
            self.models,
            tenant=principal.tenant,
            prompt=use.name,
            complexity=estimate_complexity(last_user, estimate_tokens(prompt)),
            requested=model.strip(),
        )
        loop = asyncio.get_running_loop()
        limit = self.timeout_s if timeout_s is None else min(timeout_s, self.timeout_s)
        if limit <= 0:
            raise DeadlineExceeded("the request's deadline passed before generation started")
        deadline = loop.time() + limit
        failed: list[str] = []
        for position, name in enumerate(chain):
            chosen = self.models[name]
            started = time.perf_counter()
            first_token_ms = 0.0
            pieces: list[Piece] = []
            charged = False
            try:
                stream = chosen.generator.stream(prompt, params, timeout_s=deadline - loop.time())
                async with contextlib.aclosing(stream):
                    async for piece in stream:
                        if not pieces:
                            first_token_ms = (time.perf_counter() - started) * 1000
                        pieces.append(piece)
                        if piece.text:
                            yield piece.text
            except (Unavailable, DeadlineExceeded) as exc:
                if pieces or position == len(chain) - 1 or loop.time() >= deadline:
                    if failed:
                        raise type(exc)(f"{exc} (after {', '.join(failed)} failed too)") from exc
                    raise
                log.warning("model failed; falling back", model=name, route=route, error=str(exc))
                failed.append(name)
            else:
                completion = self._completion(
                    chosen, prompt, params, pieces, use, route, failed, first_token_ms, started
                )
                charged = True
                await self._charge(principal.tenant, completion.model, completion.usage)
                yield completion
                return
            finally:
                if pieces and not charged:
                    # The caller left or the model failed mid-answer: the tokens were still generated.
                    text = "".join(p.text for p in pieces)
                    spent = usage(chosen.counter.count(prompt), chosen.counter.count(text), chosen.pricing)
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(self._charge(principal.tenant, chosen.served_as, spent))

    async def _charge(self, tenant: str, model: str, spent: Usage) -> None:
        record_usage(tenant, model, spent.prompt_tokens, spent.completion_tokens, spent.cost_usd)
        if self.budgets is not None:
            await self.budgets.record(tenant, spent.total_tokens, spent.cost_usd)

    @staticmethod
    def _completion(
        model: Model,
        prompt: str,
        params: Parameters,
        pieces: list[Piece],
        use: PromptUse,
        route: str,
        failed: list[str],
        first_token_ms: float,
        started: float,
    ) -> Completion:
        text = "".join(p.text for p in pieces)
        completion_tokens = model.counter.count(text)
        metrics: dict[str, str] = {}
        for piece in pieces:
            metrics.update(piece.metrics)
        cumulative = [p.cum_log_prob for p in pieces if p.cum_log_prob is not None]
        return Completion(
            text=text.strip(),
            model=model.served_as,
            usage=usage(model.counter.count(prompt), completion_tokens, model.pricing),
            finish_reason=finish_reason(completion_tokens, params.max_tokens),
            time_to_first_token_ms=round(first_token_ms, 2),
            generate_ms=round((time.perf_counter() - started) * 1000, 2),
            prompt=use,
            route=route,
            failed_models=tuple(failed),
            log_probs=tuple(lp for p in pieces for lp in p.log_probs),
            cum_log_prob=cumulative[-1] if cumulative else None,  # each response carries the running total
            model_metrics=metrics,
        )
