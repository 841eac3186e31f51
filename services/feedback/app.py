"""Feedback's use cases: remember answered interactions, take a person's feedback on one, announce it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Protocol

from llmops.auth import Principal
from llmops.errors import NotFound
from llmops.events import Event, FeedbackReceived, InteractionCompleted
from llmops.logging import get_logger
from services.feedback.adapters.store import FeedbackStore
from services.feedback.core import Interaction, Submission

log = get_logger(__name__)


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...


class FeedbackApp:
    """Human feedback linked to interactions; evaluation and drift build on what it stores."""

    def __init__(self, store: FeedbackStore, bus: Publisher, arrival_wait_s: float = 3.0) -> None:
        self.store = store
        self.bus = bus
        self.arrival_wait_s = arrival_wait_s
        """Feedback may race the interaction's own event: wait this long for it before calling the id unknown."""

    async def on_interaction(self, event: InteractionCompleted) -> None:
        await self.store.remember(
            Interaction(
                interaction_id=event.interaction_id,
                tenant=event.tenant,
                user=event.user,
                prompt_name=event.prompt_name,
                prompt_version=event.prompt_version,
                model=event.model,
                occurred_at=event.occurred_at,
            )
        )

    async def submit(self, principal: Principal, submission: Submission) -> str:
        """Stores the feedback and publishes `feedback.v1.received`; the feedback id."""
        interaction = await self._interaction(submission.interaction_id)
        if interaction is None or interaction.tenant != principal.tenant:
            # Another tenant's interaction reads as unknown: its existence is not the caller's business.
            raise NotFound(
                f"interaction {submission.interaction_id!r} is not known in tenant {principal.tenant!r}; send the "
                "interaction_id an Ask returned"
            )
        feedback_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        await self.store.add(feedback_id, principal.tenant, principal.subject, submission, now)
        await self.bus.publish(
            FeedbackReceived(
                tenant=principal.tenant,
                occurred_at=now,
                feedback_id=feedback_id,
                interaction_id=submission.interaction_id,
                user=principal.subject,
                rating=submission.rating,
                categories=[c.value for c in submission.categories],
                comment=submission.comment,
                corrected_answer=submission.corrected_answer,
            )
        )
        log.info("feedback received", interaction_id=submission.interaction_id, rating=submission.rating)
        return feedback_id

    async def _interaction(self, interaction_id: str) -> Interaction | None:
        deadline = asyncio.get_running_loop().time() + self.arrival_wait_s
        while True:
            found = await self.store.interaction(interaction_id)
            if found is not None or asyncio.get_running_loop().time() >= deadline:
                return found
            await asyncio.sleep(0.1)
