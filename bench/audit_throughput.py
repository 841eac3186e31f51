"""Audit log write throughput: group commit vs one transaction per event, on SQLite and PostgreSQL, beside a peer.

Each side appends the same N InteractionCompleted records from C concurrent writers (as the bus handlers do):
- `group commit`: the service's path (GroupCommit → one transaction, Merkle nodes and one signed head per batch);
- `one per event`: the same store with batches of one (every event its own fsync and signature);
- peer `plain insert`: a bare `INSERT` of the same rows into one table, one committed transaction per event, no
  Merkle tree, no signature, no encryption (what a simple append-only audit table costs).

    .venv/bin/python -m bench.audit_throughput [--records 2000] [--writers 64] [--postgres DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmops.events import InteractionCompleted, Usage
from services.audit.adapters.sealing import Ed25519Sealer
from services.audit.adapters.sql_engines import Engine, PostgresEngine, SqliteEngine
from services.audit.adapters.sql_log import SqlAuditLog
from services.audit.app import GroupCommit
from services.audit.core import NewRecord, record_of


def records(n: int) -> list[NewRecord]:
    events = [
        InteractionCompleted(
            tenant="acme", interaction_id=f"i{i}", user=f"user{i % 50}", query="How many vacation days?",
            answer="Twenty-eight [1].", citations=[], model="m", prompt_name="p", prompt_version=1, usage=Usage(),
            retrieve_ms=1, generate_ms=2, total_ms=3,
        )
        for i in range(n)
    ]  # fmt: skip
    return [record_of(e, event_id=e.event_id, subject=e.subject, source="bench") for e in events]


async def concurrently(items: list[NewRecord], writers: int, append: Callable[[NewRecord], Awaitable[object]]) -> float:
    queue = list(items)
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            await append(queue.pop())

    await asyncio.gather(*(worker() for _ in range(writers)))
    return len(items) / (time.perf_counter() - started)


async def service_path(engine: Engine, items: list[NewRecord], writers: int, batch: bool) -> float:
    log = SqlAuditLog(engine, Ed25519Sealer(Ed25519PrivateKey.generate()))
    writer = GroupCommit(log, max_batch=512 if batch else 1, max_wait_s=0.002 if batch else 0.0)
    try:
        return await concurrently(items, writers, writer.append)
    finally:
        await log.close()


async def plain_sqlite(path: Path, items: list[NewRecord], writers: int) -> float:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT UNIQUE, payload TEXT)")
    lock = asyncio.Lock()

    async def append(record: NewRecord) -> None:
        async with lock:
            await asyncio.to_thread(
                db.execute,
                "INSERT INTO events (event_id, payload) VALUES (?, ?)",
                (record.event_id, record.payload_json),
            )

    try:
        return await concurrently(items, writers, append)
    finally:
        db.close()


def table(name: str, rows: dict[str, float]) -> None:
    peer = rows["plain insert (peer)"]
    print(f"\n### {name}\n\n| path | records/s | vs peer |\n|---|---|---|")
    for path, rate in rows.items():
        print(f"| {path} | {rate:,.0f} | {rate / peer:.2f}× |")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--postgres", default=os.environ.get("LLMOPS_TEST_POSTGRES_DSN", ""))
    args = parser.parse_args()
    print(f"{args.records} records, {args.writers} concurrent writers, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table(
            "SQLite (WAL, synchronous=FULL)",
            {
                "group commit (service)": await service_path(
                    SqliteEngine(folder / "a.db"), records(args.records), args.writers, batch=True
                ),
                "one transaction per event": await service_path(
                    SqliteEngine(folder / "b.db"), records(args.records // 4), args.writers, batch=False
                ),
                "plain insert (peer)": await plain_sqlite(folder / "c.db", records(args.records // 4), args.writers),
            },
        )
    if args.postgres:
        import psycopg

        schemas = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(3)]
        try:
            group = await service_path(
                PostgresEngine(args.postgres, schemas[0]), records(args.records), args.writers, batch=True
            )
            single = await service_path(
                PostgresEngine(args.postgres, schemas[1]), records(args.records // 4), args.writers, batch=False
            )
            with psycopg.connect(args.postgres, autocommit=True) as db:
                db.execute(f"CREATE SCHEMA {schemas[2]}")
                db.execute(
                    f"CREATE TABLE {schemas[2]}.events (seq BIGSERIAL PRIMARY KEY, event_id TEXT UNIQUE, payload TEXT)"
                )
                items = records(args.records // 4)
                started = time.perf_counter()
                for record in items:
                    db.execute(
                        f"INSERT INTO {schemas[2]}.events (event_id, payload) VALUES (%s, %s)",  # noqa: S608
                        (record.event_id, record.payload_json),
                    )
                plain = len(items) / (time.perf_counter() - started)
            table(
                "PostgreSQL",
                {"group commit (service)": group, "one transaction per event": single, "plain insert (peer)": plain},
            )
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as db:
                for schema in schemas:
                    db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    asyncio.run(main())
