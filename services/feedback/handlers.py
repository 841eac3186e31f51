"""Feedback's bus consumers: the interactions feedback may refer to, guardrail verdicts (block rate) and production
moves of prompts."""

from __future__ import annotations

from llmops.bus import Bus, EventContext
from llmops.events import GuardrailsFlagged, InteractionCompleted, PromptChanged
from services.feedback.app import FeedbackApp


def register(bus: Bus, app: FeedbackApp) -> None:
    """Subscribes to answered interactions; call before the bus starts."""

    async def remember(event: InteractionCompleted, ctx: EventContext) -> None:
        await app.on_interaction(event)  # idempotent: the store ignores an interaction it already has

    async def follow(event: PromptChanged, ctx: EventContext) -> None:
        await app.on_prompt_changed(event)  # idempotent: the latest production move per prompt

    async def watch(event: GuardrailsFlagged, ctx: EventContext) -> None:
        await app.on_flagged(event)  # a redelivery counts one block twice at most: the detector tolerates it

    bus.subscribe(InteractionCompleted, remember, durable="feedback-interactions")
    bus.subscribe(GuardrailsFlagged, watch, durable="feedback-guardrails")
    bus.subscribe(PromptChanged, follow, durable="feedback-prompts")
