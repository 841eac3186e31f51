"""Feedback's bus consumers: the interactions feedback may refer to."""

from __future__ import annotations

from llmops.bus import Bus, EventContext
from llmops.events import InteractionCompleted
from services.feedback.app import FeedbackApp


def register(bus: Bus, app: FeedbackApp) -> None:
    """Subscribes to answered interactions; call before the bus starts."""

    async def remember(event: InteractionCompleted, ctx: EventContext) -> None:
        await app.on_interaction(event)  # idempotent: the store ignores an interaction it already has

    bus.subscribe(InteractionCompleted, remember, durable="feedback-interactions")
