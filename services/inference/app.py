"""Inference's use case: render, generate on Triton, account tokens and cost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from llmops.auth import Principal
from llmops.errors import FailedPrecondition, InvalidArgument
from llmops.prompts.core import ModelParameters, render
from llmops.prompts.store import PromptCatalog
from services.inference.adapters.tokenizer import TokenCounter
from services.inference.core import (
    CHATML_STOP,
    Completion,
    Limits,
    Message,
    Parameters,
    Pricing,
    PromptUse,
    finish_reason,
    render_chatml,
    usage,
    validate_messages,
)


class Generator(Protocol):
    """A text generator (Triton in every deployment)."""

    def stream(self, prompt: str, params: Parameters) -> AsyncIterator[str]: ...


@dataclass(frozen=True)
class RenderedPrompt:
    """A registered prompt filled in for one request."""

    messages: list[Message]
    defaults: ModelParameters
    use: PromptUse
    model: str


class Inference:
    """Generates completions for chat messages or registered prompts."""

    def __init__(
        self,
        generator: Generator,
        counter: TokenCounter,
        *,
        model: str,
        pricing: Pricing,
        limits: Limits,
        catalog: PromptCatalog | None = None,
    ) -> None:
        self.generator = generator
        self.counter = counter
        self.model = model
        self.pricing = pricing
        self.limits = limits
        self.catalog = catalog

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
        self, messages: Sequence[Message], params: Parameters, prompt_use: PromptUse | None = None
    ) -> AsyncIterator[str | Completion]:
        """Yields text pieces, then the finished Completion."""
        validate_messages(messages, self.limits)
        prompt = render_chatml(messages)
        params = Parameters(**{**params.__dict__, "stop_words": (*params.stop_words, *CHATML_STOP)})
        started = time.perf_counter()
        first_token_ms = 0.0
        pieces: list[str] = []
        async for piece in self.generator.stream(prompt, params):
            if not pieces:
                first_token_ms = (time.perf_counter() - started) * 1000
            pieces.append(piece)
            yield piece
        generate_ms = (time.perf_counter() - started) * 1000
        text = "".join(pieces)
        completion_tokens = self.counter.count(text)
        yield Completion(
            text=text.strip(),
            model=self.model,
            usage=usage(self.counter.count(prompt), completion_tokens, self.pricing),
            finish_reason=finish_reason(completion_tokens, params.max_tokens),
            time_to_first_token_ms=round(first_token_ms, 2),
            generate_ms=round(generate_ms, 2),
            prompt=prompt_use or PromptUse(),
        )
