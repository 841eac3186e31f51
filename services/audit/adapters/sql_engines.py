"""Where the audit log's SQL runs: SQLite (embedded default) or PostgreSQL (production), same statements.

The dialects differ only in parameter style, binary type, JSON access, the triggers that make tables append-only,
and how writers are serialised; `sql_log.SqlAuditLog` is written once against `Engine` and `Session`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from llmops.errors import InvalidArgument

T = TypeVar("T")

_TABLES = """
CREATE TABLE IF NOT EXISTS audit_records (
    sequence BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    source TEXT NOT NULL,
    time TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    tenant TEXT NOT NULL,
    interaction_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    "user" TEXT NOT NULL,
    payload_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_by_time ON audit_records (time);
CREATE INDEX IF NOT EXISTS audit_records_by_tenant ON audit_records (tenant, sequence);
CREATE INDEX IF NOT EXISTS audit_records_by_interaction ON audit_records (interaction_id);
CREATE INDEX IF NOT EXISTS audit_records_by_document ON audit_records (document_id);
CREATE TABLE IF NOT EXISTS audit_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash {binary} NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS audit_subject_keys (
    tenant TEXT NOT NULL,
    subject TEXT NOT NULL,
    event_type TEXT NOT NULL,
    day TEXT NOT NULL,
    key {binary} NOT NULL,
    PRIMARY KEY (tenant, subject, event_type, day)
);
CREATE TABLE IF NOT EXISTS audit_heads (
    tree_size BIGINT PRIMARY KEY,
    root_hash {binary} NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    signature {binary} NOT NULL,
    frontier {binary} NOT NULL
);
"""
_SQLITE_TRIGGERS = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table}
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"""
    for table in ("audit_records", "audit_nodes", "audit_heads")
    for verb in ("update", "delete")
)
_POSTGRES_TRIGGERS = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
""" + "".join(
    f"""
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION audit_append_only();"""
    for table in ("audit_records", "audit_nodes", "audit_heads")
)


class Session(Protocol):
    """One connection's statements, written with `?` placeholders whatever the driver."""

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...
    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Engine(Protocol):
    """Runs a function on a worker thread with a session; `write` makes it one serialised transaction."""

    def json_text(self, field: str) -> str:
        """SQL for a top-level field of payload_json as text (payload filters: model, prompt, verdict)."""
        ...

    async def read(self, fn: Callable[[Session], T]) -> T: ...
    async def write(self, fn: Callable[[Session], T]) -> T: ...
    async def close(self) -> None: ...


@dataclass
class _SqliteSession:
    connection: sqlite3.Connection

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(sql, tuple(args)).fetchall())

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.connection.execute(sql, tuple(args))

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.connection.executemany(sql, [tuple(r) for r in rows])


class SqliteEngine:
    """A SQLite file in WAL mode with fsync on commit (synchronous=FULL); one writer at a time."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.execute("PRAGMA secure_delete=ON")  # a destroyed key is overwritten, not just unlinked
        self._connection.executescript(_TABLES.format(binary="BLOB") + _SQLITE_TRIGGERS)
        self._lock = threading.Lock()

    def json_text(self, field: str) -> str:
        return f"CAST(json_extract(payload_json, '$.{field}') AS TEXT)"

    def _locked(self, fn: Callable[[Session], T], transaction: bool) -> T:
        with self._lock:
            session = _SqliteSession(self._connection)
            if not transaction:
                return fn(session)
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                result = fn(session)
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
            return result

    async def read(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self._locked, fn, False)

    async def write(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self._locked, fn, True)

    async def close(self) -> None:
        await asyncio.to_thread(self._connection.close)


@dataclass
class _PostgresSession:
    cursor: Any

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql.replace("?", "%s"), tuple(args))
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in self.cursor.fetchall()]

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.cursor.execute(sql.replace("?", "%s"), tuple(args))

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cursor.executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])


class PostgresEngine:
    """PostgreSQL through psycopg; writers (any number of audit replicas) serialise on a table lock."""

    def __init__(self, dsn: str, schema: str = "llmops_audit") -> None:
        import psycopg

        if not schema.replace("_", "").isalnum():
            raise InvalidArgument(f"audit schema {schema!r}: use letters, digits and underscores")
        self.schema = schema
        self._connection = psycopg.connect(dsn, autocommit=True)
        self._connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self._connection.execute(f"SET search_path TO {schema}")
        with self._connection.transaction():
            self._connection.execute(_TABLES.format(binary="BYTEA") + _POSTGRES_TRIGGERS)
        self._lock = threading.Lock()

    def json_text(self, field: str) -> str:
        return f"(payload_json::jsonb ->> '{field}')"

    @contextmanager
    def _session(self, transaction: bool) -> Iterator[Session]:
        with self._lock, self._connection.cursor() as cursor:
            if not transaction:
                yield _PostgresSession(cursor)
                return
            with self._connection.transaction():
                # One batch at a time across replicas: sequences and the tree continue from the latest head.
                cursor.execute("LOCK TABLE audit_heads IN EXCLUSIVE MODE")
                yield _PostgresSession(cursor)

    def _run(self, fn: Callable[[Session], T], transaction: bool) -> T:
        with self._session(transaction) as session:
            return fn(session)

    async def read(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self._run, fn, False)

    async def write(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self._run, fn, True)

    async def close(self) -> None:
        await asyncio.to_thread(self._connection.close)
