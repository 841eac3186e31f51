"""Ingestion's decisions: versions by content hash, event parts, validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmops import ids
from llmops.errors import InvalidArgument
from llmops.events import Classification
from services.ingestion import core
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.core import DocumentHeader, LatestVersion, Limits, Outcome, Stage, plan_version

pytestmark = pytest.mark.unit

HEADER = DocumentHeader(source_uri="kb://a.md")
AT = datetime(2026, 1, 1, tzinfo=UTC)


def plan(
    content: bytes, latest: LatestVersion | None = None, header: DocumentHeader = HEADER
) -> core.VersionPlan | None:
    return plan_version(
        tenant="acme",
        user="ann",
        header=header,
        content=content,
        latest=latest,
        limits=Limits(max_document_bytes=1000, max_source_uri_chars=50, max_dataset_chars=20),
        policy=ChunkingPolicy(max_words=4, overlap_words=1),
    )


def latest(content: bytes, version: int, stage: Stage) -> LatestVersion:
    return LatestVersion(
        version=version, content_hash=ids.content_hash(content), stage=stage, deleted=stage == Stage.DELETED
    )


def test_a_new_document_is_version_one() -> None:
    """First ingest creates version 1 under the deterministic document id."""
    result = plan(b"# A\n\nhello world")
    assert result is not None
    assert (result.version, result.outcome) == (1, Outcome.CREATED)
    assert result.document_id == ids.document_id("acme", "kb://a.md")
    assert result.dataset == "default" and result.title == "A"
    assert result.mime_type == "text/markdown"
    assert result.content_hash == ids.content_hash(b"# A\n\nhello world")
    assert (result.size_bytes, result.ingested_by, result.tenant) == (16, "ann", "acme")
    assert [c.text for c in result.chunks] == ["# A\n\nhello world"]


def test_the_header_title_dataset_and_type_are_honoured() -> None:
    """What the caller declares wins over what parsing guesses."""
    header = DocumentHeader(source_uri="kb://notes", title="Notes", mime_type="text/plain", dataset="hr")
    result = plan(b"# not a title", header=header)
    assert result is not None
    assert (result.title, result.dataset, result.mime_type) == ("Notes", "hr", "text/plain")


def test_changed_content_is_the_next_version_with_outcome_updated() -> None:
    """A different content hash makes a new version."""
    changed = plan(b"hello there", latest(b"hello world", 1, Stage.INDEXED))
    assert changed is not None
    assert (changed.version, changed.outcome) == (2, Outcome.UPDATED)
    assert changed.document_id == ids.document_id("acme", "kb://a.md")


@pytest.mark.parametrize("stage", [Stage.CHUNKED, Stage.INDEXED])
def test_same_content_already_published_is_a_no_op(stage: Stage) -> None:
    """Once the chunked events are out, re-ingesting the same bytes does nothing."""
    assert plan(b"hello world", latest(b"hello world", 4, stage)) is None


@pytest.mark.parametrize(("version", "outcome"), [(1, Outcome.CREATED), (3, Outcome.UPDATED)])
def test_a_version_stuck_before_publishing_is_planned_again_under_the_same_number(
    version: int, outcome: Outcome
) -> None:
    """A crash between recording and publishing is repaired by re-ingesting; event ids repeat, so no duplicates."""
    first = plan(b"text", latest(b"other", version - 1, Stage.INDEXED) if version > 1 else None)
    again = plan(b"text", latest(b"text", version, Stage.RECEIVED))
    assert first is not None and again is not None
    assert (again.version, again.outcome) == (version, outcome)
    assert [e.event_id for e in again.chunked_events(AT)] == [e.event_id for e in first.chunked_events(AT)]
    assert again.received_event(AT).event_id == first.received_event(AT).event_id


@pytest.mark.parametrize("content", [b"text", b"new text"])
def test_re_ingesting_a_deleted_document_creates_its_next_version(content: bytes) -> None:
    """A tombstone keeps the version count, whether or not the content changed."""
    revived = plan(content, latest(b"text", 2, Stage.DELETED))
    assert revived is not None and (revived.version, revived.outcome) == (3, Outcome.CREATED)


def test_the_received_event_describes_the_version() -> None:
    """`documents.v1.received` carries what the audit trail needs."""
    result = plan(b"hello world", header=DocumentHeader(source_uri="kb://a.txt", dataset="hr"))
    assert result is not None
    event = result.received_event(AT)
    assert (event.tenant, event.document_id, event.version) == ("acme", result.document_id, 1)
    assert (event.source_uri, event.dataset, event.mime_type) == ("kb://a.txt", "hr", "text/plain")
    assert (event.content_hash, event.size_bytes, event.ingested_by) == (result.content_hash, 11, "ann")
    assert event.occurred_at == AT


def test_a_small_document_is_one_chunked_event_with_every_chunk() -> None:
    """One part holds all chunks, with ids, offsets, headings and access fields."""
    header = DocumentHeader(
        source_uri="kb://a.md", classification=Classification.CONFIDENTIAL, allowed_groups=("hr", "legal")
    )
    result = plan(b"# A\n\none two three four five", header=header)
    assert result is not None
    (event,) = result.chunked_events(AT)
    assert (event.part, event.parts, event.total_chunks) == (0, 1, len(result.chunks))
    assert [c.index for c in event.chunks] == list(range(len(result.chunks)))
    assert [c.chunk_id for c in event.chunks] == [ids.chunk_id(result.document_id, 1, i) for i in range(2)]
    assert [c.text for c in event.chunks] == ["# A\n\none two", "two three four five"]
    assert all(c.heading_path == ["A"] for c in event.chunks)
    assert (event.classification, event.allowed_groups) == (Classification.CONFIDENTIAL, ["hr", "legal"])
    assert (event.title, event.dataset, event.source_uri) == ("A", "default", "kb://a.md")


def test_large_documents_are_split_into_parts_with_deterministic_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts keep each message small; ids are stable across re-publishes."""
    monkeypatch.setattr(core, "MAX_PART_TEXT_CHARS", 40)
    result = plan(" ".join(f"word{i}" for i in range(40)).encode())
    assert result is not None
    events = result.chunked_events(AT)
    assert len(events) > 1
    assert {e.parts for e in events} == {len(events)}
    assert [e.part for e in events] == list(range(len(events)))
    assert {e.total_chunks for e in events} == {len(result.chunks)}
    assert [c.index for e in events for c in e.chunks] == list(range(len(result.chunks)))
    for e in events:
        assert sum(len(c.text) for c in e.chunks) <= 40
    later = result.chunked_events(datetime(2027, 6, 1, tzinfo=UTC))
    assert [e.event_id for e in events] == [e.event_id for e in later]
    assert len({e.event_id for e in events}) == len(events)
    first = events[0].chunks[0]
    assert first.chunk_id == ids.chunk_id(result.document_id, 1, 0)


def test_a_chunk_larger_than_a_part_travels_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """An oversized chunk is never dropped or merged; it becomes its own part."""
    monkeypatch.setattr(core, "MAX_PART_TEXT_CHARS", 10)
    result = plan(b"a " + b"x" * 30 + b" b")
    assert result is not None
    events = result.chunked_events(AT)
    assert [[c.text for c in e.chunks] for e in events] == [["a " + "x" * 30 + " b"]]


@pytest.mark.parametrize(
    ("header", "content", "needle"),
    [
        (HEADER, b"", "content is empty"),
        (HEADER, b"x" * 1001, "1001 bytes, over the 1000-byte limit"),
        (HEADER, b"   \n", "no text to index"),
        (HEADER, b"\xff\xfe", "not valid UTF-8"),
        (DocumentHeader(source_uri=""), b"text", "source_uri is required"),
        (DocumentHeader(source_uri=" "), b"text", "source_uri is required"),
        (DocumentHeader(source_uri="kb://" + "u" * 50), b"text", "source_uri is longer than 50"),
        (DocumentHeader(source_uri="kb://a.md", dataset="d" * 21), b"text", "dataset is longer than 20"),
        (DocumentHeader(source_uri="kb://a.png"), b"text", "cannot tell the type"),
        (DocumentHeader(source_uri="kb://a.md", mime_type="image/png"), b"text", "unsupported mime_type"),
    ],
)
def test_bad_documents_are_refused(header: DocumentHeader, content: bytes, needle: str) -> None:
    """Each refusal names the problem."""
    with pytest.raises(InvalidArgument, match=needle):
        plan(content, header=header)


def test_the_size_limit_is_inclusive() -> None:
    """Exactly max_document_bytes is accepted."""
    assert plan(b"x" * 1000) is not None
