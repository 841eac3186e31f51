"""Audit's bus consumers: one durable consumer per platform stream, each storing before it acks."""

from __future__ import annotations

from llmops.bus import Bus, EventContext
from llmops.events import Event
from services.audit.app import AuditTrail
from services.audit.core import STREAM_FILTERS


def durable_name(subject_filter: str) -> str:
    """The durable consumer name for a stream filter, e.g. `audit-documents` for `documents.>`."""
    return f"audit-{subject_filter.split('.', 1)[0]}"


def register(bus: Bus, trail: AuditTrail) -> None:
    """Subscribes the recorder to every stream; call before the bus starts."""

    async def record(event: Event, ctx: EventContext) -> None:
        # The bus acks after this returns, so a crash before the write commits means a redelivery, not a gap;
        # the redelivery carries the same ce-id and is stored once.
        await trail.record(event, event_id=ctx.id, subject=ctx.subject, source=ctx.source)

    for subject_filter in STREAM_FILTERS:
        # Many at once: each waits for its group commit, so concurrent events share one transaction. Order does
        # not matter here: a record's log position is assigned when its batch commits.
        bus.subscribe_all(subject_filter, record, durable=durable_name(subject_filter), concurrency=64)
