"""The SQLite document store: versions, stages, indexed parts, tombstones and listing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from llmops import ids
from llmops.events import Classification
from services.ingestion.adapters.sqlite_store import SqliteDocumentStore
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.core import (
    DocumentHeader,
    LatestVersion,
    Limits,
    Stage,
    VersionPlan,
    plan_version,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_plan(
    content: bytes = b"# Title\n\nsome words here",
    *,
    tenant: str = "acme",
    uri: str = "kb://a.md",
    dataset: str = "",
    latest: LatestVersion | None = None,
) -> VersionPlan:
    header = DocumentHeader(
        source_uri=uri, dataset=dataset, classification=Classification.CONFIDENTIAL, allowed_groups=("hr",)
    )
    result = plan_version(
        tenant=tenant,
        user="ann",
        header=header,
        content=content,
        latest=latest,
        limits=Limits(),
        policy=ChunkingPolicy(max_words=3, overlap_words=1),
    )
    assert result is not None
    return result


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteDocumentStore]:
    documents = SqliteDocumentStore(tmp_path / "ingestion" / "documents.db")
    yield documents
    await documents.close()


async def test_unknown_documents_have_no_latest_version_and_no_view(store: SqliteDocumentStore) -> None:
    """Nothing recorded reads as None, not as an error."""
    assert await store.latest("missing") is None
    assert await store.get("missing") is None


async def test_a_recorded_version_is_the_latest_and_received(store: SqliteDocumentStore) -> None:
    """record_version stores the document, its first version and the RECEIVED stage."""
    plan = make_plan()
    await store.record_version(plan, at(0))
    assert await store.latest(plan.document_id) == LatestVersion(
        version=1, content_hash=plan.content_hash, stage=Stage.RECEIVED, deleted=False
    )
    view = await store.get(plan.document_id)
    assert view is not None
    assert (view.document_id, view.tenant, view.source_uri, view.title) == (
        plan.document_id,
        "acme",
        "kb://a.md",
        "Title",
    )
    assert (view.dataset, view.mime_type, view.latest_version, view.deleted) == ("default", "text/markdown", 1, False)
    assert (view.classification, view.allowed_groups) == (Classification.CONFIDENTIAL, ["hr"])
    (version,) = view.versions
    assert (version.version, version.content_hash, version.chunk_count) == (1, plan.content_hash, len(plan.chunks))
    assert (version.ingested_by, version.ingested_at, version.embedding_model) == ("ann", at(0), "")
    assert (version.parser, version.chunker) == (plan.parser, plan.chunker)
    assert (version.stage, version.history) == (Stage.RECEIVED, [(Stage.RECEIVED, at(0))])


async def test_stages_advance_and_are_kept_in_history(store: SqliteDocumentStore) -> None:
    """Each stage is recorded once with its time; the version shows the current one."""
    plan = make_plan()
    await store.record_version(plan, at(0))
    await store.set_stage(plan.document_id, 1, Stage.CHUNKED, at(1))
    await store.set_stage(plan.document_id, 1, Stage.CHUNKED, at(5))
    latest = await store.latest(plan.document_id)
    assert latest is not None and latest.stage == Stage.CHUNKED
    view = await store.get(plan.document_id)
    assert view is not None
    assert view.versions[0].history == [(Stage.RECEIVED, at(0)), (Stage.CHUNKED, at(1))]


async def test_recording_the_same_version_again_adds_nothing(store: SqliteDocumentStore) -> None:
    """A republish after a crash re-records version 1 without duplicating it or its history."""
    plan = make_plan()
    await store.record_version(plan, at(0))
    await store.record_version(plan, at(3))
    view = await store.get(plan.document_id)
    assert view is not None
    assert len(view.versions) == 1
    assert view.versions[0].ingested_at == at(0)
    assert view.versions[0].history == [(Stage.RECEIVED, at(0))]


async def test_a_new_version_becomes_the_latest_and_versions_are_listed_oldest_first(
    store: SqliteDocumentStore,
) -> None:
    """Version 2 moves the document's pointer; version 1 stays in the history."""
    v1 = make_plan(b"first text")
    await store.record_version(v1, at(0))
    await store.set_stage(v1.document_id, 1, Stage.INDEXED, at(1))
    v2 = make_plan(b"second text", latest=await store.latest(v1.document_id))
    assert v2.version == 2
    await store.record_version(v2, at(2))
    assert await store.latest(v1.document_id) == LatestVersion(2, v2.content_hash, Stage.RECEIVED, False)
    view = await store.get(v1.document_id)
    assert view is not None
    assert view.latest_version == 2
    assert [(v.version, v.stage) for v in view.versions] == [(1, Stage.INDEXED), (2, Stage.RECEIVED)]


async def test_a_version_is_indexed_only_when_all_its_parts_are(store: SqliteDocumentStore) -> None:
    """mark_part_indexed says True once the last distinct part arrives; repeated parts do not count twice."""
    plan = make_plan()
    doc = plan.document_id
    await store.record_version(plan, at(0))
    assert await store.mark_part_indexed(doc, 1, 0, 3, "minilm", at(1)) is False
    assert await store.mark_part_indexed(doc, 1, 0, 3, "minilm", at(2)) is False
    assert await store.mark_part_indexed(doc, 1, 2, 3, "minilm", at(3)) is False
    latest = await store.latest(doc)
    assert latest is not None and latest.stage == Stage.RECEIVED
    assert await store.mark_part_indexed(doc, 1, 1, 3, "minilm", at(4)) is True
    latest = await store.latest(doc)
    assert latest is not None and latest.stage == Stage.INDEXED
    view = await store.get(doc)
    assert view is not None
    assert view.versions[0].embedding_model == "minilm"
    assert view.versions[0].history == [(Stage.RECEIVED, at(0)), (Stage.INDEXED, at(4))]


async def test_parts_are_counted_per_version(store: SqliteDocumentStore) -> None:
    """Parts of version 1 do not complete version 2."""
    v1 = make_plan(b"first text")
    await store.record_version(v1, at(0))
    v2 = make_plan(b"second text", latest=await store.latest(v1.document_id))
    await store.record_version(v2, at(1))
    assert await store.mark_part_indexed(v1.document_id, 1, 0, 2, "m", at(2)) is False
    assert await store.mark_part_indexed(v1.document_id, 2, 1, 2, "m", at(3)) is False
    assert await store.mark_part_indexed(v1.document_id, 2, 0, 2, "m", at(4)) is True
    view = await store.get(v1.document_id)
    assert view is not None
    assert [v.stage for v in view.versions] == [Stage.RECEIVED, Stage.INDEXED]


async def test_a_deleted_document_reads_as_deleted_until_a_new_version_revives_it(
    store: SqliteDocumentStore,
) -> None:
    """mark_deleted tombstones the latest version; recording the next version clears the tombstone."""
    plan = make_plan()
    await store.record_version(plan, at(0))
    await store.mark_deleted(plan.document_id, at(1))
    tombstone = await store.latest(plan.document_id)
    assert tombstone == LatestVersion(1, plan.content_hash, Stage.DELETED, True)
    view = await store.get(plan.document_id)
    assert view is not None and view.deleted
    assert view.versions[0].history[-1] == (Stage.DELETED, at(1))

    revived = make_plan(latest=tombstone)
    assert revived.version == 2
    await store.record_version(revived, at(2))
    assert await store.latest(plan.document_id) == LatestVersion(2, plan.content_hash, Stage.RECEIVED, False)


async def test_listing_is_per_tenant_filtered_by_dataset_and_paged_by_document_id(
    store: SqliteDocumentStore,
) -> None:
    """list returns one tenant's documents in id order after the cursor, at most `limit` of them."""
    acme = [make_plan(uri=f"kb://{i}.md", dataset="hr" if i % 2 else "eng") for i in range(5)]
    for plan in [*acme, make_plan(tenant="globex", uri="kb://0.md", dataset="hr")]:
        await store.record_version(plan, at(0))
    expected = sorted(p.document_id for p in acme)

    first = await store.list_documents("acme", "", "", 3)
    assert [v.document_id for v in first] == expected[:3]
    rest = await store.list_documents("acme", "", first[-1].document_id, 3)
    assert [v.document_id for v in rest] == expected[3:]
    assert await store.list_documents("acme", "", expected[-1], 3) == []

    hr = await store.list_documents("acme", "hr", "", 10)
    assert sorted(v.document_id for v in hr) == sorted(p.document_id for p in acme if p.dataset == "hr")
    assert {v.tenant for v in hr} == {"acme"} and len(hr) == 2

    (globex,) = await store.list_documents("globex", "", "", 10)
    assert globex.document_id == ids.document_id("globex", "kb://0.md")
    assert await store.list_documents("nobody", "", "", 10) == []


async def test_records_survive_reopening_the_file(tmp_path: Path) -> None:
    """The store is durable: a new process sees what the last one wrote."""
    path = tmp_path / "documents.db"
    plan = make_plan()
    first = SqliteDocumentStore(path)
    await first.record_version(plan, at(0))
    await first.set_stage(plan.document_id, 1, Stage.CHUNKED, at(1))
    await first.close()
    second = SqliteDocumentStore(path)
    try:
        assert await second.latest(plan.document_id) == LatestVersion(1, plan.content_hash, Stage.CHUNKED, False)
    finally:
        await second.close()
