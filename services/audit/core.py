"""Audit's domain: what a record holds, what a query may ask and how pages continue; pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from llmops.errors import InvalidArgument, PermissionDenied
from llmops.events import Event

GUARDRAIL_ACTIONS = ("", "block", "redact")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
STREAM_FILTERS = ("documents.>", "interactions.>", "guardrails.>", "feedback.>", "alerts.>", "prompts.>")
"""Every platform stream the audit log captures (dead letters are an operator concern, not an event)."""

_ACTOR_FIELDS = ("user", "ingested_by", "deleted_by", "changed_by")
"""Event fields naming the person behind an event, in order of preference."""
_PAGE_TOKEN = re.compile(r"[0-9]{1,18}")
"""ASCII digits only (str.isdigit accepts "²"), and short enough to stay inside SQLite's signed 64-bit integers."""


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
    """Inclusive lower bound on the event time."""
    end: datetime | None = None
    """Exclusive upper bound on the event time."""
    tenant: str = ""
    user: str = ""
    event_types: tuple[str, ...] = ()
    interaction_id: str = ""
    document_id: str = ""
    model: str = ""
    prompt_name: str = ""
    prompt_version: int = 0
    guardrail_action: str = ""
    """Guardrail verdicts with this combined action (block or redact)."""
    from_sequence: int = 0
    """The first log position this page may return (the page token)."""
    page_size: int = DEFAULT_PAGE_SIZE


def scoped_to_tenant(query: Query, tenant: str) -> Query:
    """`query` limited to one tenant's records: a compliance officer reads their own tenant's log.

    Raises:
        PermissionDenied: the query names another tenant.
    """
    if query.tenant and query.tenant != tenant:
        raise PermissionDenied(f"you may query tenant {tenant!r} only, not {query.tenant!r}")
    return replace(query, tenant=tenant)


@dataclass(frozen=True)
class Page:
    """One page of matching records in log order."""

    records: list[Record]
    next_page_token: str
    """Empty on the last page."""


def _text_field(event: Event, name: str) -> str:
    value = getattr(event, name, "")
    return value if isinstance(value, str) else ""


def record_of(event: Event, *, event_id: str, subject: str, source: str) -> NewRecord:
    """The record of an event; identifiers are lifted out of the body so queries can filter on them.

    Args:
        event: the decoded event body.
        event_id: the CloudEvents id it arrived with; the log keeps one record per id.
        subject: the NATS subject it arrived on.
        source: the CloudEvents source (the publishing service).
    """
    return NewRecord(
        event_id=event_id,
        event_type=event.type,
        subject=subject,
        source=source,
        time=event.occurred_at,
        tenant=event.tenant,
        interaction_id=_text_field(event, "interaction_id"),
        document_id=_text_field(event, "document_id"),
        user=next((actor for name in _ACTOR_FIELDS if (actor := _text_field(event, name))), ""),
        payload_json=event.model_dump_json(),
    )


def parse_page_token(token: str) -> int:
    """The log position a page token points at; an empty token is the start of the log."""
    if not token:
        return 0
    if not _PAGE_TOKEN.fullmatch(token):
        raise InvalidArgument(
            f"page.page_token {token[:40]!r} is not one this service issued; pass next_page_token back unchanged"
        )
    return int(token)


def validate_query(
    *,
    start: datetime | None,
    end: datetime | None,
    tenant: str,
    user: str,
    event_types: Iterable[str],
    interaction_id: str,
    document_id: str,
    page_size: int,
    page_token: str,
    model: str = "",
    prompt_name: str = "",
    prompt_version: int = 0,
    guardrail_action: str = "",
) -> Query:
    """A query, or a domain error saying what to fix.

    Raises:
        InvalidArgument: page size out of range, a malformed page token, an empty time range, a negative prompt
            version or a guardrail action that is not a verdict.
    """
    if prompt_version < 0:
        raise InvalidArgument(f"prompt_version must be positive (0 does not filter), got {prompt_version}")
    if guardrail_action.strip() not in GUARDRAIL_ACTIONS:
        raise InvalidArgument(f"guardrail_action is {guardrail_action!r}; use block or redact (empty does not filter)")
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise InvalidArgument(
            f"page.page_size must be between 1 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE}), got {page_size}"
        )
    if start is not None and end is not None and end <= start:
        raise InvalidArgument("range.end must be after range.start (start is inclusive, end exclusive)")
    return Query(
        start=start,
        end=end,
        tenant=tenant.strip(),
        user=user.strip(),
        event_types=tuple(dict.fromkeys(t.strip() for t in event_types if t.strip())),
        interaction_id=interaction_id.strip(),
        document_id=document_id.strip(),
        model=model.strip(),
        prompt_name=prompt_name.strip(),
        prompt_version=prompt_version,
        guardrail_action=guardrail_action.strip(),
        from_sequence=parse_page_token(page_token),
        page_size=page_size or DEFAULT_PAGE_SIZE,
    )


def page_of(rows: Sequence[Record], page_size: int) -> Page:
    """A page from up to `page_size + 1` matching rows; the extra row, when there, is where the next page starts."""
    if len(rows) > page_size:
        return Page(list(rows[:page_size]), str(rows[page_size].sequence))
    return Page(list(rows), "")
