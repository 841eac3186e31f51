"""Audit's protobuf edge: a QueryRequest becomes a validated query, a page becomes a QueryResponse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmops.api.audit.v1 import audit_pb2
from llmops.api.common.v1 import common_pb2
from services.audit.core import Page, Record
from services.audit.mappers import page_to_pb, query_from_pb

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_a_request_maps_to_a_query_with_open_bounds_where_the_range_is_unset() -> None:
    """Only the set end of the range bounds the query; the page token becomes a log position."""
    request = audit_pb2.QueryRequest(
        tenant="acme", user="ann", event_types=["t"], interaction_id="i1",
        page=common_pb2.PageRequest(page_size=5, page_token="7"),
    )  # fmt: skip
    request.range.end.FromDatetime(T0)
    q = query_from_pb(request)
    assert (q.start, q.end, q.tenant, q.user) == (None, T0, "acme", "ann")
    assert (q.event_types, q.interaction_id) == (("t",), "i1")
    assert (q.page_size, q.from_sequence) == (5, 7)


def test_payload_filters_reach_the_query() -> None:
    q = query_from_pb(audit_pb2.QueryRequest(model="m", prompt_name="p", prompt_version=2, guardrail_action="block"))
    assert (q.model, q.prompt_name, q.prompt_version, q.guardrail_action) == ("m", "p", 2, "block")


def test_a_page_maps_to_records_in_order_with_the_next_token() -> None:
    """Compliance sees each record's log position, both times and its body."""
    record = Record(
        event_id="e", event_type="t", subject="s", source="src", time=T0, tenant="acme", interaction_id="i",
        document_id="d", user="ann", payload_json='{"a": 1}', sequence=7, recorded_at=T0,
    )  # fmt: skip
    message = page_to_pb(Page([record], "8"))
    (out,) = message.records
    assert message.next_page_token == "8"
    assert (out.sequence, out.event_id, out.tenant, out.interaction_id, out.document_id) == (7, "e", "acme", "i", "d")
    assert (out.time.ToDatetime(UTC), out.recorded_at.ToDatetime(UTC), out.payload_json) == (T0, T0, '{"a": 1}')
