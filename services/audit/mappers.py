"""protobuf ↔ domain conversion for audit; the only module here that knows both."""

from __future__ import annotations

from llmops.api.audit.v1 import audit_pb2 as pb
from llmops.timestamps import from_timestamp, to_timestamp
from services.audit.core import Page, Query, Record, validate_query

_UNSUPPORTED_FILTERS = ("model", "prompt_name", "prompt_version", "guardrail_action")
"""QueryRequest fields the contract names but this version does not filter on yet."""


def query_from_pb(request: pb.QueryRequest) -> Query:
    """The validated domain query; unset range bounds are open."""
    return validate_query(
        start=from_timestamp(request.range.start, request.range.HasField("start")),
        end=from_timestamp(request.range.end, request.range.HasField("end")),
        tenant=request.tenant,
        user=request.user,
        event_types=request.event_types,
        interaction_id=request.interaction_id,
        document_id=request.document_id,
        page_size=request.page.page_size,
        page_token=request.page.page_token,
        unsupported_filters=[name for name in _UNSUPPORTED_FILTERS if getattr(request, name)],
    )


def record_to_pb(record: Record) -> pb.AuditRecord:
    """The wire form of a stored record (the contract has no user field; it stays queryable by filter)."""
    return pb.AuditRecord(
        sequence=record.sequence,
        event_id=record.event_id,
        event_type=record.event_type,
        subject=record.subject,
        source=record.source,
        time=to_timestamp(record.time),
        recorded_at=to_timestamp(record.recorded_at),
        tenant=record.tenant,
        interaction_id=record.interaction_id,
        document_id=record.document_id,
        payload_json=record.payload_json,
    )


def page_to_pb(page: Page) -> pb.QueryResponse:
    """A QueryResponse from one page."""
    return pb.QueryResponse(records=[record_to_pb(r) for r in page.records], next_page_token=page.next_page_token)
