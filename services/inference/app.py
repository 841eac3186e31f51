"""Inference's use case: render, generate on Triton, account tokens and cost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from services.inference.adapters.tokenizer import TokenCounter
from services.inference.core import (
    CHATML_STOP,
    Completion,
    Limits,
    Message,
    Parameters,
    Pricing,
    finish_reason,
    render_chatml,
    usage,
    validate_messages,
)


class Generator(Protocol):
    """A text generator (Triton in every deployment)."""

    def stream(self, prompt: str, params: Parameters) -> AsyncIterator[str]: ...


class Inference:
    """Generates completions for chat messages."""

    def __init__(
        self, generator: Generator, counter: TokenCounter, *, model: str, pricing: Pricing, limits: Limits
    ) -> None:
        self.generator = generator
        self.counter = counter
        self.model = model
        self.pricing = pricing
        self.limits = limits

    async def stream(self, messages: Sequence[Message], params: Parameters) -> AsyncIterator[str | Completion]:
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
        )
