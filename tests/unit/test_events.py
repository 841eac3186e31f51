"""Event models: subjects, ids, validation, and the bus's pure helpers."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from llmops.bus import STREAMS, EventContext, cloudevent_headers, decode_event, stream_for
from llmops.errors import PoisonMessage
from llmops.events import EVENT_TYPES, DocumentDeleted, DocumentIndexed

pytestmark = pytest.mark.unit


def ctx(event_type: str, subject: str) -> EventContext:
    return EventContext(id="1", type=event_type, source="t", time=None, subject=subject, deliveries=1)


def test_every_event_has_a_unique_versioned_subject_captured_by_a_stream() -> None:
    """Subjects read <area>.v1.<name>, are unique, and each belongs to a declared stream."""
    subjects = [cls.subject for cls in EVENT_TYPES.values()]
    assert len(set(subjects)) == len(subjects)
    for subject in subjects:
        assert re.fullmatch(r"[a-z]+\.v1\.[a-z_]+", subject), subject
        assert stream_for(subject) in {s.name for s in STREAMS}


def test_event_ids_are_deterministic_per_fact() -> None:
    """The same fact published twice has one id; a different fact another."""
    a = DocumentDeleted(tenant="t", document_id="d", version=1, deleted_by="u")
    b = DocumentDeleted(tenant="t", document_id="d", version=1, deleted_by="someone else")
    c = DocumentDeleted(tenant="t", document_id="d", version=2, deleted_by="u")
    assert a.event_id == b.event_id != c.event_id


def test_unknown_fields_and_bad_values_are_rejected() -> None:
    """Schemas are strict, so a producer bug is caught at the edge."""
    with pytest.raises(ValidationError):
        DocumentDeleted(tenant="t", document_id="d", version=1, deleted_by="u", extra="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        DocumentDeleted(tenant="", document_id="d", version=1, deleted_by="u")
    with pytest.raises(ValidationError):
        DocumentIndexed(tenant="t", document_id="d", version=0, part=0, parts=1, chunk_count=0, embedding_model="m")


def test_decode_event_round_trips_and_refuses_unknown_or_misplaced_types() -> None:
    """Decoding is by CloudEvents type and the type must match its subject."""
    event = DocumentDeleted(tenant="t", document_id="d", version=1, deleted_by="u")
    body = event.model_dump_json().encode()
    assert decode_event(body, ctx(DocumentDeleted.type, DocumentDeleted.subject)) == event
    with pytest.raises(PoisonMessage, match="unknown event type"):
        decode_event(body, ctx("io.example.other", DocumentDeleted.subject))
    with pytest.raises(PoisonMessage, match="does not belong"):
        decode_event(body, ctx(DocumentDeleted.type, "documents.v1.indexed"))


def test_stream_for_rejects_subjects_no_stream_captures() -> None:
    """A typo in a subject is a loud error, not a silently lost event."""
    with pytest.raises(ValueError, match="no stream captures"):
        stream_for("unknown.v1.thing")


def test_cloudevent_headers_carry_the_dedupe_id() -> None:
    """Nats-Msg-Id equals ce-id, which is what makes re-publishing safe."""
    event = DocumentDeleted(tenant="acme", document_id="d", version=1, deleted_by="u")
    headers = cloudevent_headers(event, "llmops/test")
    assert headers["Nats-Msg-Id"] == headers["ce-id"] == event.event_id
    assert headers["ce-type"] == DocumentDeleted.type and headers["ce-tenant"] == "acme"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", headers["traceparent"])
