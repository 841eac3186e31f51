"""The SQLite audit log: exactly-once appends, append-only storage, filters and pages, on a real file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from llmops.events import DocumentDeleted, InteractionCompleted, Usage
from services.audit.adapters.sqlite_log import SqliteAuditLog
from services.audit.app import AuditTrail
from services.audit.core import Query, record_of, validate_query

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def interaction(n: int, tenant: str = "acme", user: str = "ann") -> InteractionCompleted:
    return InteractionCompleted(
        tenant=tenant, occurred_at=T0 + timedelta(minutes=n), interaction_id=f"i{n}", user=user, query="q",
        answer="a", citations=[], model="m", prompt_name="p", prompt_version=1, usage=Usage(), retrieve_ms=1,
        generate_ms=2, total_ms=3,
    )  # fmt: skip


def query(**overrides: object) -> Query:
    args: dict[str, object] = {
        "start": None, "end": None, "tenant": "", "user": "", "event_types": [], "interaction_id": "",
        "document_id": "", "page_size": 0, "page_token": "",
    }  # fmt: skip
    args.update(overrides)
    return validate_query(**args)  # type: ignore[arg-type]


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteAuditLog]:
    instance = SqliteAuditLog(tmp_path / "audit.sqlite3")
    yield instance
    await instance.close()


async def append(log: SqliteAuditLog, event: InteractionCompleted | DocumentDeleted) -> bool:
    return await log.append(record_of(event, event_id=event.event_id, subject=event.subject, source="test"))


async def read(log: SqliteAuditLog, **overrides: object) -> list[tuple[int, str]]:
    return [(r.sequence, r.interaction_id or r.document_id) for r in await log.query(query(**overrides), 1000)]


async def test_an_event_is_stored_once_however_often_it_arrives(log: SqliteAuditLog) -> None:
    """Redeliveries and re-publishes carry the same id and are ignored, leaving no gap in the sequence."""
    assert await append(log, interaction(1))
    assert not await append(log, interaction(1))
    assert await append(log, interaction(2))
    records = await log.query(query(), 10)
    assert [(r.sequence, r.interaction_id, r.user, r.source) for r in records] == [
        (0, "i1", "ann", "test"), (1, "i2", "ann", "test"),
    ]  # fmt: skip
    assert records[0].time == T0 + timedelta(minutes=1) and records[0].recorded_at is not None


async def test_the_database_refuses_updates_deletes_and_replacements(log: SqliteAuditLog, tmp_path: Path) -> None:
    """Append-only is enforced by triggers, so even another connection cannot rewrite history."""
    await append(log, interaction(1))
    db = sqlite3.connect(tmp_path / "audit.sqlite3")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE records SET tenant = 'evil'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM records")
        # REPLACE would delete the old row without the delete trigger; the insert trigger drops it instead.
        db.execute("INSERT OR REPLACE INTO records SELECT sequence, event_id, event_type, subject, source, time, "
                   "recorded_at, 'evil', interaction_id, document_id, user, payload_json FROM records")  # fmt: skip
        db.commit()
    finally:
        db.close()
    assert [r.tenant for r in await log.query(query(), 10)] == ["acme"]


async def test_the_log_survives_a_reopen_and_continues_its_sequence(tmp_path: Path) -> None:
    """Records are durable on return; a restarted service appends after them and still dedupes."""
    first = SqliteAuditLog(tmp_path / "a.sqlite3")
    await append(first, interaction(1))
    await first.close()
    second = SqliteAuditLog(tmp_path / "a.sqlite3")
    try:
        assert not await append(second, interaction(1))
        assert await append(second, interaction(2))
        assert await read(second) == [(0, "i1"), (1, "i2")]
    finally:
        await second.close()


async def test_filters_combine_and_the_time_range_is_half_open(log: SqliteAuditLog) -> None:
    """Start is inclusive, end exclusive; tenant, user, type and ids narrow the result."""
    for n in range(5):
        await append(log, interaction(n, tenant="acme" if n % 2 == 0 else "globex", user="ann" if n < 3 else "cy"))
    await append(log, DocumentDeleted(tenant="acme", occurred_at=T0, document_id="d1", version=1, deleted_by="bob"))

    assert await read(log, tenant="acme", event_types=[InteractionCompleted.type]) == [(0, "i0"), (2, "i2"), (4, "i4")]
    assert await read(log, start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)) == [(1, "i1"), (2, "i2")]
    assert await read(log, user="cy") == [(3, "i3"), (4, "i4")]
    assert await read(log, user="bob", document_id="d1") == [(5, "d1")]
    assert await read(log, interaction_id="i3", tenant="acme") == []
    assert await read(log, event_types=[DocumentDeleted.type, "io.llmops.none.v1"]) == [(5, "d1")]


async def test_pages_follow_each_other_in_log_order_until_the_last_one(log: SqliteAuditLog) -> None:
    """Each next_page_token resumes exactly where the previous page stopped, across filters."""
    for n in range(7):
        await append(log, interaction(n, tenant="acme" if n != 3 else "globex"))
    trail = AuditTrail(log)
    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = await trail.query(query(tenant="acme", page_size=2, page_token=token))
        seen.extend(r.sequence for r in page.records)
        pages += 1
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert seen == [0, 1, 2, 4, 5, 6]
    assert pages == 3
