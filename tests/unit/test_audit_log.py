"""The audit log: exactly-once appends, append-only storage, filters and pages."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from llmops.errors import InvalidArgument
from llmops.events import DocumentDeleted, InteractionCompleted, Usage
from services.audit.adapters.sqlite_log import SqliteAuditLog
from services.audit.core import record_of, validate_query

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def interaction(n: int, tenant: str = "acme") -> InteractionCompleted:
    return InteractionCompleted(
        tenant=tenant, occurred_at=T0 + timedelta(minutes=n), interaction_id=f"i{n}", user="ann", query="q",
        answer="a", citations=[], model="m", prompt_name="p", prompt_version=1, usage=Usage(), retrieve_ms=1,
        generate_ms=2, total_ms=3,
    )  # fmt: skip


def query(**overrides: object):  # noqa: ANN201
    args: dict[str, object] = {
        "start": None, "end": None, "tenant": "", "user": "", "event_types": [], "interaction_id": "",
        "document_id": "", "page_size": 0, "page_token": "",
    }  # fmt: skip
    args.update(overrides)
    return validate_query(**args)  # type: ignore[arg-type]


@pytest.fixture
async def log(tmp_path: Path) -> SqliteAuditLog:
    return SqliteAuditLog(tmp_path / "audit.sqlite3")


async def append(log: SqliteAuditLog, event: InteractionCompleted | DocumentDeleted) -> bool:
    return await log.append(record_of(event, event_id=event.event_id, subject=event.subject, source="test"))


async def test_an_event_is_stored_once_however_often_it_arrives(log: SqliteAuditLog) -> None:
    """Redeliveries and re-publishes carry the same id and are ignored."""
    assert await append(log, interaction(1))
    assert not await append(log, interaction(1))
    records = await log.query(query())
    assert [(r.sequence, r.interaction_id, r.user) for r in records] == [(0, "i1", "ann")]


async def test_the_log_refuses_updates_and_deletes(log: SqliteAuditLog, tmp_path: Path) -> None:
    """Append-only is enforced by the database, not by convention."""
    await append(log, interaction(1))
    db = sqlite3.connect(tmp_path / "audit.sqlite3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE records SET tenant = 'evil'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM records")
    db.close()


async def test_queries_filter_and_page_in_log_order(log: SqliteAuditLog) -> None:
    """Filters combine; pages continue where the last one stopped."""
    for n in range(5):
        await append(log, interaction(n, tenant="acme" if n % 2 == 0 else "globex"))
    await append(log, DocumentDeleted(tenant="acme", occurred_at=T0, document_id="d1", version=1, deleted_by="bob"))

    acme = await log.query(query(tenant="acme", event_types=[InteractionCompleted.type]))
    assert [r.interaction_id for r in acme] == ["i0", "i2", "i4"]
    window = await log.query(query(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)))
    assert [r.interaction_id for r in window] == ["i1", "i2"]
    deleted = await log.query(query(document_id="d1"))
    assert [(r.event_type, r.user) for r in deleted] == [(DocumentDeleted.type, "bob")]

    first = await log.query(query(page_size=4))
    rest = await log.query(query(page_size=4, page_token=str(first[-1].sequence + 1)))
    assert [r.sequence for r in first + rest] == list(range(6))


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"page_size": 1001}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "abc"}, "page_token"),
        ({"start": T0, "end": T0}, "range.end"),
    ],
)
def test_malformed_queries_are_refused(overrides: dict[str, object], needle: str) -> None:
    """Each refusal names the field to fix."""
    with pytest.raises(InvalidArgument, match=needle):
        query(**overrides)
