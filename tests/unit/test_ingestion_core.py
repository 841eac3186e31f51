"""Ingestion's decisions: versions by content hash, event parts, validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmops import ids
from llmops.errors import InvalidArgument
from services.ingestion import core
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.core import DocumentHeader, LatestVersion, Limits, Outcome, Stage, plan_version

pytestmark = pytest.mark.unit

HEADER = DocumentHeader(source_uri="kb://a.md")


def plan(
    content: bytes, latest: LatestVersion | None = None, header: DocumentHeader = HEADER
) -> core.VersionPlan | None:
    return plan_version(
        tenant="acme",
        user="ann",
        header=header,
        content=content,
        latest=latest,
        limits=Limits(max_document_bytes=1000),
        policy=ChunkingPolicy(max_words=4, overlap_words=1),
    )


def test_a_new_document_is_version_one() -> None:
    """First ingest creates version 1 under the deterministic document id."""
    result = plan(b"# A\n\nhello world")
    assert result is not None
    assert (result.version, result.outcome) == (1, Outcome.CREATED)
    assert result.document_id == ids.document_id("acme", "kb://a.md")
    assert result.dataset == "default" and result.title == "A"


def test_changed_content_is_the_next_version_and_same_content_is_a_no_op() -> None:
    """The content hash decides."""
    digest = ids.content_hash(b"hello world")
    latest = LatestVersion(version=1, content_hash=digest, stage=Stage.INDEXED, deleted=False)
    assert plan(b"hello world", latest) is None
    changed = plan(b"hello there", latest)
    assert changed is not None and (changed.version, changed.outcome) == (2, Outcome.UPDATED)


def test_a_version_stuck_before_publishing_is_planned_again_under_the_same_number() -> None:
    """A crash between recording and publishing is repaired by re-ingesting; event ids repeat, so no duplicates."""
    latest = LatestVersion(version=3, content_hash=ids.content_hash(b"text"), stage=Stage.RECEIVED, deleted=False)
    again = plan(b"text", latest)
    assert again is not None and again.version == 3


def test_re_ingesting_a_deleted_document_creates_its_next_version() -> None:
    """A tombstone keeps the version count."""
    latest = LatestVersion(version=2, content_hash=ids.content_hash(b"text"), stage=Stage.DELETED, deleted=True)
    revived = plan(b"text", latest)
    assert revived is not None and (revived.version, revived.outcome) == (3, Outcome.CREATED)


def test_large_documents_are_split_into_parts_with_deterministic_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts keep each message small; ids are stable across re-publishes."""
    monkeypatch.setattr(core, "MAX_PART_TEXT_CHARS", 40)
    result = plan(" ".join(f"word{i}" for i in range(40)).encode())
    assert result is not None
    events = result.chunked_events(datetime(2026, 1, 1, tzinfo=UTC))
    assert len(events) > 1
    assert {e.parts for e in events} == {len(events)}
    assert [e.part for e in events] == list(range(len(events)))
    assert sum(len(e.chunks) for e in events) == len(result.chunks) == events[0].total_chunks
    assert [e.event_id for e in events] == [e.event_id for e in result.chunked_events(events[0].occurred_at)]
    first = events[0].chunks[0]
    assert first.chunk_id == ids.chunk_id(result.document_id, 1, 0)


@pytest.mark.parametrize(
    ("header", "content", "needle"),
    [
        (HEADER, b"", "content is empty"),
        (HEADER, b"x" * 1001, "over the 1000-byte limit"),
        (DocumentHeader(source_uri=" "), b"text", "source_uri is required"),
        (DocumentHeader(source_uri="kb://a.md", dataset="d" * 200), b"text", "dataset is longer"),
    ],
)
def test_bad_documents_are_refused(header: DocumentHeader, content: bytes, needle: str) -> None:
    """Each refusal names the problem."""
    with pytest.raises(InvalidArgument, match=needle):
        plan(content, header=header)
