"""The audit log in SQLite (embedded default): append-only by trigger, one row per event id."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from llmops.sqlite import Database
from services.audit.core import NewRecord, Query, Record

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
-- INSERT OR REPLACE deletes the conflicting row without firing the delete trigger (recursive_triggers is off
-- by default), so a conflicting insert is dropped here instead; INSERT OR IGNORE dedupe behaves the same.
CREATE TRIGGER IF NOT EXISTS records_no_replace BEFORE INSERT ON records
WHEN EXISTS (SELECT 1 FROM records WHERE event_id = NEW.event_id OR sequence = NEW.sequence)
BEGIN SELECT RAISE(IGNORE); END;
"""
_COLUMNS = (
    "sequence, event_id, event_type, subject, source, time, recorded_at, tenant, interaction_id, document_id, user, "
    "payload_json"
)
_INSERT = (
    f"INSERT OR IGNORE INTO records ({_COLUMNS}) "  # noqa: S608 - column names are constants
    "SELECT COALESCE(MAX(sequence) + 1, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM records"
)


class AuditLog(Protocol):
    """Where audit records live: append once per event id, read in log order."""

    async def append(self, record: NewRecord) -> bool:
        """Stores a record durably; False when its event id is already in the log."""
        ...

    async def query(self, query: Query, limit: int) -> list[Record]:
        """At most `limit` records matching `query`, from position `query.from_sequence`, in log order."""
        ...

    async def close(self) -> None:
        """Releases the store once pending calls finish."""
        ...


def _iso(at: datetime) -> str:
    """UTC ISO-8601 with microseconds, so text order is time order; a naive time is taken as UTC."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _record(row: sqlite3.Row | tuple[Any, ...]) -> Record:
    return Record(
        sequence=row[0], event_id=row[1], event_type=row[2], subject=row[3], source=row[4], time=_parse(row[5]),
        recorded_at=_parse(row[6]), tenant=row[7], interaction_id=row[8], document_id=row[9], user=row[10],
        payload_json=row[11],
    )  # fmt: skip


def _where(query: Query) -> tuple[str, list[Any]]:
    conditions = ["sequence >= ?"]
    args: list[Any] = [query.from_sequence]
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
    if query.start is not None:
        conditions.append("time >= ?")
        args.append(_iso(query.start))
    if query.end is not None:
        conditions.append("time < ?")
        args.append(_iso(query.end))
    return " AND ".join(conditions), args


class SqliteAuditLog:
    """AuditLog on a SQLite file; writes are serialised and fsynced (synchronous=FULL, WAL) before they return."""

    def __init__(self, path: Path) -> None:
        self._database = Database(path, _SCHEMA)

    async def append(self, record: NewRecord) -> bool:
        """Stores a record; False when its event id is already in the log (a redelivery or re-publish)."""
        values = (
            record.event_id, record.event_type, record.subject, record.source, _iso(record.time),
            _iso(datetime.now(UTC)), record.tenant, record.interaction_id, record.document_id, record.user,
            record.payload_json,
        )  # fmt: skip

        def write(db: sqlite3.Connection) -> bool:
            # The next sequence is computed inside the INSERT, and calls are serialised, so positions have no gaps.
            with db:
                return db.execute(_INSERT, values).rowcount == 1

        return await self._database.run(write)

    async def query(self, query: Query, limit: int) -> list[Record]:
        """At most `limit` records matching `query`, from position `query.from_sequence`, in log order."""
        where, args = _where(query)
        sql = f"SELECT {_COLUMNS} FROM records WHERE {where} ORDER BY sequence LIMIT ?"  # noqa: S608

        def read(db: sqlite3.Connection) -> list[Record]:
            return [_record(row) for row in db.execute(sql, (*args, limit)).fetchall()]

        return await self._database.run(read)

    async def close(self) -> None:
        """Closes the database once pending calls finish."""
        await self._database.close()
