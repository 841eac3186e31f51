"""Event models: subjects, ids, validation, and the bus's pure helpers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from llmops import ids
from llmops.bus import STREAMS, EventContext, cloudevent_headers, decode_event, stream_for
from llmops.errors import PoisonMessage
from llmops.events import (
    EVENT_TYPES,
    ChunkBody,
    DocumentChunked,
    DocumentDeleted,
    DocumentIndexed,
    FeedbackReceived,
    Usage,
)

pytestmark = pytest.mark.unit


def ctx(event_type: str, subject: str) -> EventContext:
    return EventContext(id="1", type=event_type, source="t", time=None, subject=subject, deliveries=1)


def chunked(part: int, **overrides: object) -> DocumentChunked:
    fields: dict[str, object] = {
        "tenant": "t",
        "document_id": "d",
        "version": 1,
        "source_uri": "kb://a.md",
        "title": "A",
        "dataset": "default",
        "content_hash": "h",
        "part": part,
        "parts": 2,
        "total_chunks": 1,
        "chunks": [ChunkBody(chunk_id="c", index=0, text="x", start_char=0, end_char=1)],
    }
    return DocumentChunked.model_validate(fields | overrides)


def test_every_event_has_a_unique_versioned_subject_captured_by_a_stream() -> None:
    """Subjects read <area>.v1.<name>, are unique, and each belongs to a declared stream."""
    subjects = [cls.subject for cls in EVENT_TYPES.values()]
    assert len(subjects) == 12
    assert len(set(subjects)) == len(subjects)
    stream_names = {s.name for s in STREAMS}
    for subject in subjects:
        assert re.fullmatch(r"[a-z]+\.v1\.[a-z_]+", subject), subject
        assert stream_for(subject) in stream_names


def test_every_cloudevents_type_mirrors_its_subject_and_keys_the_registry() -> None:
    """`<area>.v1.<name>` is typed `io.llmops.<area>.<name>.v1`, and EVENT_TYPES is keyed by that type."""
    for event_type, cls in EVENT_TYPES.items():
        area, version, name = cls.subject.split(".")
        assert event_type == cls.type == f"io.llmops.{area}.{name}.{version}"


def test_streams_map_their_subjects_and_wildcards_to_themselves() -> None:
    """Each stream's own filters (e.g. `documents.>`) resolve to that stream."""
    assert stream_for("documents.v1.chunked") == "DOCUMENTS"
    assert stream_for("alerts.>") == "ALERTS"
    for spec in STREAMS:
        for subject in spec.subjects:
            assert stream_for(subject) == spec.name


@pytest.mark.parametrize("subject", ["unknown.v1.thing", "document.v1.received", "", "Documents.v1.received"])
def test_stream_for_rejects_subjects_no_stream_captures(subject: str) -> None:
    """A typo in a subject is a loud error, not a silently lost event."""
    with pytest.raises(ValueError, match="no stream captures"):
        stream_for(subject)


def test_event_ids_are_deterministic_per_fact() -> None:
    """The same fact published twice has one id, whatever else differs; a different fact another."""
    a = DocumentDeleted(tenant="t", document_id="d", version=1, deleted_by="u")
    b = DocumentDeleted(
        tenant="t", document_id="d", version=1, deleted_by="someone else", occurred_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    c = DocumentDeleted(tenant="t", document_id="d", version=2, deleted_by="u")
    assert a.event_id == b.event_id != c.event_id
    assert a.event_id == ids.event_id(DocumentDeleted.type, "d:1:deleted")
    assert uuid.UUID(a.event_id).version == 5


def test_event_ids_differ_by_part_and_by_type_for_the_same_key() -> None:
    """Each part is its own message, and a chunked and an indexed event of one part never collide."""
    assert chunked(0).event_id != chunked(1).event_id
    indexed = DocumentIndexed(
        tenant="t", document_id="d", version=1, part=0, parts=2, chunk_count=1, embedding_model="m"
    )
    assert indexed.idempotency_key() == chunked(0).idempotency_key()
    assert indexed.event_id != chunked(0).event_id


def test_unknown_fields_and_bad_values_are_rejected() -> None:
    """Schemas are strict, so a producer bug is caught at the edge."""
    with pytest.raises(ValidationError, match="extra"):
        DocumentDeleted(tenant="t", document_id="d", version=1, deleted_by="u", extra="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="tenant"):
        DocumentDeleted(tenant="", document_id="d", version=1, deleted_by="u")
    with pytest.raises(ValidationError, match="version"):
        DocumentIndexed(tenant="t", document_id="d", version=0, part=0, parts=1, chunk_count=0, embedding_model="m")
    with pytest.raises(ValidationError, match="parts"):
        chunked(0, parts=0)
    with pytest.raises(ValidationError, match="extra"):
        ChunkBody(chunk_id="c", index=0, text="x", start_char=0, end_char=1, score=1.0)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="text"):
        ChunkBody(chunk_id="c", index=0, text="", start_char=0, end_char=0)
    with pytest.raises(ValidationError, match="extra"):
        Usage(tokens=3)  # type: ignore[call-arg]


def test_events_are_frozen() -> None:
    """A received event cannot be altered by a handler."""
    event = FeedbackReceived(tenant="t", feedback_id="f", interaction_id="i", user="u", rating=1.0)
    with pytest.raises(ValidationError, match="frozen"):
        event.rating = 0.0  # type: ignore[misc]


def test_decode_event_round_trips_every_field() -> None:
    """A body encoded by one service decodes to an equal event in another."""
    event = chunked(1, allowed_groups=["hr"])
    decoded = decode_event(event.model_dump_json().encode(), ctx(DocumentChunked.type, DocumentChunked.subject))
    assert decoded == event
    assert isinstance(decoded, DocumentChunked)
    assert decoded.event_id == event.event_id


def test_decode_event_refuses_unknown_or_misplaced_types_as_poison() -> None:
    """Decoding is by CloudEvents type and the type must match its subject."""
    event = DocumentDeleted(tenant="t", document_id="d", version=1, deleted_by="u")
    body = event.model_dump_json().encode()
    with pytest.raises(PoisonMessage, match="unknown event type 'io.example.other'"):
        decode_event(body, ctx("io.example.other", DocumentDeleted.subject))
    with pytest.raises(PoisonMessage, match="does not belong on subject 'documents.v1.indexed'"):
        decode_event(body, ctx(DocumentDeleted.type, "documents.v1.indexed"))


def test_decode_event_refuses_a_body_that_does_not_fit_its_type() -> None:
    """A body of another schema fails validation (which the bus dead-letters) instead of decoding loosely."""
    body = DocumentDeleted(tenant="t", document_id="d", version=1, deleted_by="u").model_dump_json().encode()
    with pytest.raises(ValidationError):
        decode_event(body, ctx(DocumentIndexed.type, DocumentIndexed.subject))
    with pytest.raises(ValidationError):
        decode_event(b"not json", ctx(DocumentDeleted.type, DocumentDeleted.subject))


def test_cloudevent_headers_carry_the_dedupe_id() -> None:
    """Nats-Msg-Id equals ce-id, which is what makes re-publishing safe."""
    when = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    event = DocumentDeleted(tenant="acme", document_id="d", version=1, deleted_by="u", occurred_at=when)
    headers = cloudevent_headers(event, "llmops/test")
    assert headers["Nats-Msg-Id"] == headers["ce-id"] == event.event_id
    assert headers["ce-type"] == DocumentDeleted.type and headers["ce-tenant"] == "acme"
    assert headers["ce-source"] == "llmops/test" and headers["ce-specversion"] == "1.0"
    assert headers["ce-time"] == "2026-02-03T04:05:06+00:00"
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", headers["traceparent"])


def test_events_name_who_caused_them_in_the_cloudevents_authcontext() -> None:
    """The verified principal (a delegated user named as the user), or `system` outside any call."""
    from llmops.auth import Principal
    from llmops.security.context import Authenticated, reset_authentication, set_authentication

    event = DocumentDeleted(tenant="acme", document_id="d", version=1, deleted_by="u")
    outside = cloudevent_headers(event, "llmops/test")
    assert (outside["ce-authtype"], outside["ce-authid"]) == ("system", "llmops/test")

    service = Principal(tenant="platform", subject="llmops-services", roles=("service",))
    alice = Principal(tenant="acme", subject="alice", extra={"delegated_by": "llmops-services"})
    for authenticated, expected in (
        (Authenticated(principal=alice, caller=service), ("app_user", "acme/alice")),
        (Authenticated(principal=service, caller=service), ("service_account", "platform/llmops-services")),
    ):
        token = set_authentication(authenticated)
        try:
            headers = cloudevent_headers(event, "llmops/test")
        finally:
            reset_authentication(token)
        assert (headers["ce-authtype"], headers["ce-authid"]) == expected
