"""Audit's domain: what a record holds and what a query may ask; pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from llmops.errors import InvalidArgument
from llmops.events import Event

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
STREAM_FILTERS = ("documents.>", "interactions.>", "guardrails.>", "feedback.>", "alerts.>", "prompts.>")
"""Every platform stream the audit log captures (dead letters are an operator concern, not an event)."""


@dataclass(frozen=True)
class NewRecord:
    """An event as the log stores it."""

    event_id: str
    event_type: str
    subject: str
    source: str
    time: datetime
    tenant: str
    interaction_id: str
    document_id: str
    user: str
    payload_json: str


@dataclass(frozen=True)
class Record(NewRecord):
    """A stored record with its position in the log."""

    sequence: int = 0
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class Query:
    """A validated audit query; empty fields do not filter."""

    start: datetime | None = None
    end: datetime | None = None
    tenant: str = ""
    user: str = ""
    event_types: tuple[str, ...] = ()
    interaction_id: str = ""
    document_id: str = ""
    after_sequence: int = 0
    limit: int = DEFAULT_PAGE_SIZE
    extra: dict[str, str] = field(default_factory=dict)


def record_of(event: Event, *, event_id: str, subject: str, source: str) -> NewRecord:
    """The record of an event; identifiers are lifted out of the body so queries can filter on them."""
    body = event.model_dump(mode="json")
    return NewRecord(
        event_id=event_id,
        event_type=event.type,
        subject=subject,
        source=source,
        time=event.occurred_at,
        tenant=event.tenant,
        interaction_id=str(body.get("interaction_id", "")),
        document_id=str(body.get("document_id", "")),
        user=str(body.get("user") or body.get("ingested_by") or body.get("deleted_by") or body.get("changed_by") or ""),
        payload_json=event.model_dump_json(),
    )


def validate_query(
    *,
    start: datetime | None,
    end: datetime | None,
    tenant: str,
    user: str,
    event_types: list[str],
    interaction_id: str,
    document_id: str,
    page_size: int,
    page_token: str,
) -> Query:
    """A query, or INVALID_ARGUMENT saying what to fix."""
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise InvalidArgument(f"page.page_size must be between 1 and {MAX_PAGE_SIZE} (0 for {DEFAULT_PAGE_SIZE})")
    if start and end and end <= start:
        raise InvalidArgument("range.end must be after range.start")
    after = 0
    if page_token:
        if not page_token.isdigit():
            raise InvalidArgument("page.page_token is not one this service issued; pass next_page_token unchanged")
        after = int(page_token)
    return Query(
        start=start,
        end=end,
        tenant=tenant.strip(),
        user=user.strip(),
        event_types=tuple(t for t in event_types if t),
        interaction_id=interaction_id.strip(),
        document_id=document_id.strip(),
        after_sequence=after,
        limit=page_size or DEFAULT_PAGE_SIZE,
    )
