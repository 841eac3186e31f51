"""The audit log in SQLite (embedded default): append-only by trigger, one row per event id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from llmops.sqlite import Database
from services.audit.core import NewRecord, Query, Record

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    sequence INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    source TEXT NOT NULL,
    time TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    tenant TEXT NOT NULL,
    interaction_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    user TEXT NOT NULL,
    payload_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_time ON records (time);
CREATE INDEX IF NOT EXISTS records_by_interaction ON records (interaction_id) WHERE interaction_id != '';
CREATE INDEX IF NOT EXISTS records_by_document ON records (document_id) WHERE document_id != '';
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
_COLUMNS = (
    "sequence, event_id, event_type, subject, source, time, recorded_at, tenant, interaction_id, document_id, user, "
    "payload_json"
)


class AuditLog(Protocol):
    """Where audit records live."""

    async def append(self, record: NewRecord) -> bool: ...
    async def query(self, query: Query) -> list[Record]: ...
    async def close(self) -> None: ...


def _iso(at: datetime) -> str:
    """UTC ISO-8601 with microseconds, so text order is time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class SqliteAuditLog:
    """AuditLog on a SQLite file; writes are serialised and durable (synchronous=FULL) before they return."""

    def __init__(self, path: Path) -> None:
        self._database = Database(path, _SCHEMA)
        self._db = self._database.connection

    async def _run(self, fn: Callable[[], T]) -> T:
        return await self._database.run(lambda _: fn())

    async def append(self, record: NewRecord) -> bool:
        """Stores a record; False when its event id is already in the log (a redelivery or re-publish)."""

        def write() -> bool:
            with self._db:
                (next_sequence,) = self._db.execute("SELECT COALESCE(MAX(sequence) + 1, 0) FROM records").fetchone()
                cursor = self._db.execute(
                    f"INSERT OR IGNORE INTO records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    (
                        next_sequence, record.event_id, record.event_type, record.subject, record.source,
                        _iso(record.time), _iso(datetime.now(UTC)), record.tenant, record.interaction_id,
                        record.document_id, record.user, record.payload_json,
                    ),
                )  # fmt: skip
                return cursor.rowcount == 1

        return await self._run(write)

    async def query(self, query: Query) -> list[Record]:
        """Matching records in log order, after `query.after_sequence`, at most `query.limit`."""
        conditions = ["sequence >= ?"]
        args: list[Any] = [query.after_sequence]
        for column, value in (
            ("tenant", query.tenant),
            ("user", query.user),
            ("interaction_id", query.interaction_id),
            ("document_id", query.document_id),
        ):
            if value:
                conditions.append(f"{column} = ?")
                args.append(value)
        if query.event_types:
            conditions.append(f"event_type IN ({', '.join('?' * len(query.event_types))})")
            args.extend(query.event_types)
        if query.start:
            conditions.append("time >= ?")
            args.append(_iso(query.start))
        if query.end:
            conditions.append("time < ?")
            args.append(_iso(query.end))
        sql = f"SELECT {_COLUMNS} FROM records WHERE {' AND '.join(conditions)} ORDER BY sequence LIMIT ?"  # noqa: S608

        def read() -> list[Record]:
            rows = self._db.execute(sql, (*args, query.limit)).fetchall()
            return [
                Record(
                    sequence=r[0],
                    event_id=r[1],
                    event_type=r[2],
                    subject=r[3],
                    source=r[4],
                    time=_parse(r[5]),
                    recorded_at=_parse(r[6]),
                    tenant=r[7],
                    interaction_id=r[8],
                    document_id=r[9],
                    user=r[10],
                    payload_json=r[11],
                )  # fmt: skip
                for r in rows
            ]

        return await self._run(read)

    async def close(self) -> None:
        await self._database.close()
