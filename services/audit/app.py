"""Audit's use cases: record an event exactly once, answer compliance queries page by page."""

from __future__ import annotations

from llmops.events import Event
from llmops.logging import get_logger
from services.audit.adapters.sqlite_log import AuditLog
from services.audit.core import Page, Query, page_of, record_of

log = get_logger(__name__)


class AuditTrail:
    """The audit log's behaviour; the bus handlers and the gRPC servicer call this."""

    def __init__(self, audit_log: AuditLog) -> None:
        self.log = audit_log

    async def record(self, event: Event, *, event_id: str, subject: str, source: str) -> bool:
        """Appends an event under its CloudEvents id; False when that id is already in the log.

        Returns only once the record is durable, so the caller may ack the message afterwards.
        """
        stored = await self.log.append(record_of(event, event_id=event_id, subject=subject, source=source))
        if not stored:
            log.debug("duplicate event ignored", event_id=event_id, subject=subject)
        return stored

    async def query(self, query: Query) -> Page:
        """One page of matching records in log order, with the token of the next page."""
        # One row beyond the page tells whether another page exists, so the last page carries no token.
        rows = await self.log.query(query, query.page_size + 1)
        return page_of(rows, query.page_size)
