"""Audit's bus consumers: one durable consumer per platform stream, each storing before it acks."""

from __future__ import annotations

from llmops.bus import Bus, EventContext
from llmops.events import Event
from llmops.logging import get_logger
from services.audit.adapters.sqlite_log import AuditLog
from services.audit.core import STREAM_FILTERS, record_of

log = get_logger(__name__)


def register(bus: Bus, audit_log: AuditLog) -> None:
    """Subscribes the recorder to every stream; call before the bus starts."""

    async def record(event: Event, ctx: EventContext) -> None:
        stored = await audit_log.append(record_of(event, event_id=ctx.id, subject=ctx.subject, source=ctx.source))
        if not stored:
            log.debug("duplicate event ignored", event_id=ctx.id)

    for subject_filter in STREAM_FILTERS:
        bus.subscribe_all(subject_filter, record, durable=f"audit-{subject_filter.split('.', 1)[0]}")
