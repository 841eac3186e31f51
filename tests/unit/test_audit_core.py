"""Audit's pure logic: what a record lifts out of an event, what a query may ask, where a page ends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from llmops.errors import InvalidArgument
from llmops.events import DocumentDeleted, DriftAlert, GuardrailsFlagged, InteractionCompleted, PromptChanged, Usage
from services.audit.core import (
    DEFAULT_PAGE_SIZE,
    Query,
    Record,
    page_of,
    parse_page_token,
    record_of,
    scoped_to_tenant,
    validate_query,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def query(**overrides: object):  # noqa: ANN201
    args: dict[str, object] = {
        "start": None, "end": None, "tenant": "", "user": "", "event_types": [], "interaction_id": "",
        "document_id": "", "page_size": 0, "page_token": "",
    }  # fmt: skip
    args.update(overrides)
    return validate_query(**args)  # type: ignore[arg-type]


def stored(sequence: int) -> Record:
    return Record(
        event_id=f"e{sequence}", event_type="t", subject="s", source="src", time=T0, tenant="acme",
        interaction_id="", document_id="", user="", payload_json="{}", sequence=sequence,
    )  # fmt: skip


def test_an_interaction_record_carries_its_interaction_user_and_body() -> None:
    """Identifiers are lifted out of the body so queries can filter on them."""
    event = InteractionCompleted(
        tenant="acme", occurred_at=T0, interaction_id="i1", user="ann", query="q", answer="a", citations=[],
        model="m", prompt_name="p", prompt_version=1, usage=Usage(), retrieve_ms=1, generate_ms=2, total_ms=3,
    )  # fmt: skip
    record = record_of(event, event_id="ce-1", subject=event.subject, source="llmops/gateway")
    assert (record.event_id, record.event_type, record.subject, record.source) == (
        "ce-1", InteractionCompleted.type, "interactions.v1.completed", "llmops/gateway",
    )  # fmt: skip
    assert (record.tenant, record.time, record.interaction_id, record.document_id, record.user) == (
        "acme", T0, "i1", "", "ann",
    )  # fmt: skip
    assert json.loads(record.payload_json)["answer"] == "a"


@pytest.mark.parametrize(
    ("event", "ids"),
    [
        (DocumentDeleted(tenant="acme", document_id="d1", version=2, deleted_by="bob"), ("", "d1", "bob")),
        (PromptChanged(tenant="acme", change_id="c", name="p", version=2, changed_by="eve"), ("", "", "eve")),
        (
            GuardrailsFlagged(
                tenant="acme",
                check_id="k",
                stage="input",
                action="block",
                policy_id="p",
                policy_version=1,
                findings=[],
            ),
            ("", "", ""),
        ),
        (DriftAlert(tenant="acme", alert_id="a", detector="d", statistic=1.0, threshold=0.5), ("", "", "")),
    ],
)
def test_the_actor_is_whoever_the_event_names_and_absent_ids_are_empty(event: object, ids: tuple[str, ...]) -> None:
    """`deleted_by`, `changed_by` … stand for the user; events without an id field record an empty one."""
    record = record_of(event, event_id="x", subject="s", source="src")  # type: ignore[arg-type]
    assert (record.interaction_id, record.document_id, record.user) == ids


def test_an_empty_query_reads_the_log_from_its_start_one_default_page_at_a_time() -> None:
    """Page size 0 means the default; blank event types are dropped and duplicates collapse."""
    q = query(event_types=["a", "", " a ", "b"], tenant=" acme ")
    assert (q.from_sequence, q.page_size, q.event_types, q.tenant) == (0, DEFAULT_PAGE_SIZE, ("a", "b"), "acme")


def test_a_page_token_is_the_log_position_the_next_page_starts_at() -> None:
    """Tokens round-trip as decimal strings."""
    assert parse_page_token("") == 0
    assert query(page_token="42", page_size=1000).from_sequence == 42


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"page_size": 1001}, "page_size must be between 1 and 1000"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "abc"}, "page_token 'abc' is not one this service issued"),
        ({"page_token": "-1"}, "page_token"),
        ({"page_token": "²"}, "page_token"),
        ({"page_token": "9" * 19}, "page_token"),
        ({"start": T0, "end": T0}, "range.end must be after range.start"),
    ],
)
def test_malformed_queries_are_refused_naming_the_field_to_fix(overrides: dict[str, object], needle: str) -> None:
    """Each refusal is INVALID_ARGUMENT with the field in its message."""
    with pytest.raises(InvalidArgument, match=needle):
        query(**overrides)


def test_payload_filters_are_validated() -> None:
    assert query(model=" m ", prompt_name="p", prompt_version=3, guardrail_action="block").model == "m"
    with pytest.raises(InvalidArgument, match="guardrail_action is 'maybe'"):
        query(guardrail_action="maybe")
    with pytest.raises(InvalidArgument, match="prompt_version must be positive"):
        query(prompt_version=-1)


def test_a_page_carries_a_token_only_when_another_record_follows() -> None:
    """The extra row fetched beyond the page is where the next page starts."""
    full = page_of([stored(3), stored(5), stored(8)], page_size=2)
    assert ([r.sequence for r in full.records], full.next_page_token) == ([3, 5], "8")
    last = page_of([stored(3), stored(5)], page_size=2)
    assert ([r.sequence for r in last.records], last.next_page_token) == ([3, 5], "")


def test_a_query_is_scoped_to_the_callers_tenant_and_naming_another_is_refused() -> None:
    from llmops.errors import PermissionDenied

    assert scoped_to_tenant(Query(), "acme").tenant == "acme"
    assert scoped_to_tenant(Query(tenant="acme", user="alice"), "acme") == Query(tenant="acme", user="alice")
    with pytest.raises(PermissionDenied, match="tenant 'acme' only"):
        scoped_to_tenant(Query(tenant="globex"), "acme")
