"""Document and version records in SQLite (embedded default); one connection, calls run in a worker thread."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from llmops.events import Classification
from llmops.sqlite import Database
from services.ingestion.core import LatestVersion, Stage, VersionPlan

T = TypeVar("T")
_STAGE_ORDER = (Stage.RECEIVED, Stage.CHUNKED, Stage.INDEXED, Stage.DELETED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    source_uri TEXT NOT NULL,
    title TEXT NOT NULL,
    dataset TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    classification TEXT NOT NULL,
    allowed_groups TEXT NOT NULL,
    latest_version INTEGER NOT NULL,
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS documents_by_tenant ON documents (tenant, dataset, document_id);
CREATE TABLE IF NOT EXISTS versions (
    document_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    ingested_by TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    parser TEXT NOT NULL,
    chunker TEXT NOT NULL,
    embedding_model TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL,
    masking_policy TEXT NOT NULL DEFAULT 'keep',
    PRIMARY KEY (document_id, version)
);
CREATE TABLE IF NOT EXISTS stage_history (
    document_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    stage TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (document_id, version, stage)
);
CREATE TABLE IF NOT EXISTS indexed_parts (
    document_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    part INTEGER NOT NULL,
    PRIMARY KEY (document_id, version, part)
);
CREATE TABLE IF NOT EXISTS dataset_versions (
    tenant TEXT NOT NULL,
    dataset TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    document_versions TEXT NOT NULL,
    PRIMARY KEY (tenant, dataset, name)
);
"""


@dataclass(frozen=True)
class VersionView:
    """One version with its pipeline history."""

    version: int
    content_hash: str
    chunk_count: int
    ingested_by: str
    ingested_at: datetime
    parser: str
    chunker: str
    embedding_model: str
    stage: Stage
    masking_policy: str = "keep"
    history: list[tuple[Stage, datetime]] = field(default_factory=list)


@dataclass(frozen=True)
class DocumentView:
    """A document with every version, newest last."""

    document_id: str
    tenant: str
    source_uri: str
    title: str
    dataset: str
    mime_type: str
    classification: Classification
    allowed_groups: list[str]
    latest_version: int
    deleted: bool
    versions: list[VersionView]


class DocumentStore(Protocol):
    """What ingestion needs to remember about documents."""

    async def latest(self, document_id: str) -> LatestVersion | None: ...
    async def record_version(self, plan: VersionPlan, at: datetime) -> None: ...
    async def set_stage(self, document_id: str, version: int, stage: Stage, at: datetime) -> None: ...
    async def mark_part_indexed(
        self, document_id: str, version: int, part: int, parts: int, embedding_model: str, at: datetime
    ) -> bool: ...
    async def mark_deleted(self, document_id: str, at: datetime) -> None: ...
    async def get(self, document_id: str) -> DocumentView | None: ...
    async def list_documents(self, tenant: str, dataset: str, after: str, limit: int) -> list[DocumentView]: ...
    async def snapshot_dataset(
        self, tenant: str, dataset: str, name: str, by: str, at: datetime
    ) -> DatasetSnapshot | None: ...
    async def dataset_versions(self, tenant: str, dataset: str) -> list[DatasetSnapshot]: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class DatasetSnapshot:
    """A named, frozen set of document versions: what an evaluation ran against."""

    dataset: str
    name: str
    created_at: datetime
    created_by: str
    document_versions: dict[str, int]


class SqliteDocumentStore:
    """DocumentStore on one SQLite file; a lock serialises writers, WAL lets readers in."""

    def __init__(self, path: Path) -> None:
        self._database = Database(path, _SCHEMA)
        self._db = self._database.connection

    async def _run(self, fn: Callable[[], T]) -> T:
        return await self._database.run(lambda _: fn())

    async def latest(self, document_id: str) -> LatestVersion | None:
        def query() -> LatestVersion | None:
            row = self._db.execute(
                "SELECT v.version, v.content_hash, v.stage, d.deleted_at FROM documents d "
                "JOIN versions v ON v.document_id = d.document_id AND v.version = d.latest_version "
                "WHERE d.document_id = ?",
                (document_id,),
            ).fetchone()
            if row is None:
                return None
            return LatestVersion(version=row[0], content_hash=row[1], stage=Stage(row[2]), deleted=row[3] is not None)

        return await self._run(query)

    async def record_version(self, plan: VersionPlan, at: datetime) -> None:
        header = plan.header

        def write() -> None:
            with self._db:
                self._db.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) "
                    "ON CONFLICT (document_id) DO UPDATE SET title = excluded.title, dataset = excluded.dataset, "
                    "mime_type = excluded.mime_type, classification = excluded.classification, "
                    "allowed_groups = excluded.allowed_groups, latest_version = excluded.latest_version, "
                    "deleted_at = NULL",
                    (
                        plan.document_id, plan.tenant, header.source_uri, plan.title, plan.dataset, plan.mime_type,
                        header.classification.value, json.dumps(list(header.allowed_groups)), plan.version,
                    ),
                )  # fmt: skip
                parts = len(plan.chunked_events(at))
                self._db.execute(
                    "INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?)",
                    (
                        plan.document_id, plan.version, plan.content_hash, len(plan.chunks), parts,
                        plan.ingested_by, at.isoformat(), plan.parser, plan.chunker, Stage.RECEIVED.value,
                        plan.masking_policy,
                    ),
                )  # fmt: skip
                self._db.execute(
                    "INSERT OR IGNORE INTO stage_history VALUES (?, ?, ?, ?)",
                    (plan.document_id, plan.version, Stage.RECEIVED.value, at.isoformat()),
                )

        await self._run(write)

    def _set_stage(self, document_id: str, version: int, stage: Stage, at: datetime) -> bool:
        """Moves a version forward only (events may arrive out of order); DELETED is final."""
        earlier = [s.value for s in _STAGE_ORDER[: _STAGE_ORDER.index(stage)]]
        changed = self._db.execute(
            f"UPDATE versions SET stage = ? WHERE document_id = ? AND version = ? "  # noqa: S608
            f"AND stage IN ({', '.join('?' * len(earlier))})",
            (stage.value, document_id, version, *earlier),
        ).rowcount
        if changed:
            self._db.execute(
                "INSERT OR IGNORE INTO stage_history VALUES (?, ?, ?, ?)",
                (document_id, version, stage.value, at.isoformat()),
            )
        return bool(changed)

    async def set_stage(self, document_id: str, version: int, stage: Stage, at: datetime) -> None:
        def write() -> None:
            with self._db:
                self._set_stage(document_id, version, stage, at)

        await self._run(write)

    async def mark_part_indexed(
        self, document_id: str, version: int, part: int, parts: int, embedding_model: str, at: datetime
    ) -> bool:
        def write() -> bool:
            with self._db:
                self._db.execute("INSERT OR IGNORE INTO indexed_parts VALUES (?, ?, ?)", (document_id, version, part))
                (done,) = self._db.execute(
                    "SELECT COUNT(*) FROM indexed_parts WHERE document_id = ? AND version = ?",
                    (document_id, version),
                ).fetchone()
                if done < parts:
                    return False
                # A late redelivery must not revive a deleted version, nor report "indexed" twice.
                if not self._set_stage(document_id, version, Stage.INDEXED, at):
                    return False
                self._db.execute(
                    "UPDATE versions SET embedding_model = ? WHERE document_id = ? AND version = ?",
                    (embedding_model, document_id, version),
                )
                return True

        return await self._run(write)

    async def mark_deleted(self, document_id: str, at: datetime) -> None:
        def write() -> None:
            with self._db:
                self._db.execute(
                    "UPDATE documents SET deleted_at = ? WHERE document_id = ?", (at.isoformat(), document_id)
                )
                row = self._db.execute(
                    "SELECT latest_version FROM documents WHERE document_id = ?", (document_id,)
                ).fetchone()
                if row is not None:
                    self._set_stage(document_id, row[0], Stage.DELETED, at)

        await self._run(write)

    def _view(self, row: tuple[Any, ...]) -> DocumentView:
        versions = []
        for v in self._db.execute(
            "SELECT version, content_hash, chunk_count, ingested_by, ingested_at, parser, chunker, embedding_model, "
            "stage, masking_policy FROM versions WHERE document_id = ? ORDER BY version",
            (row[0],),
        ).fetchall():
            history = [
                (Stage(stage), datetime.fromisoformat(at))
                for stage, at in self._db.execute(
                    "SELECT stage, at FROM stage_history WHERE document_id = ? AND version = ? ORDER BY at",
                    (row[0], v[0]),
                ).fetchall()
            ]
            versions.append(
                VersionView(
                    version=v[0], content_hash=v[1], chunk_count=v[2], ingested_by=v[3],
                    ingested_at=datetime.fromisoformat(v[4]), parser=v[5], chunker=v[6], embedding_model=v[7],
                    stage=Stage(v[8]), masking_policy=v[9], history=history,
                )
            )  # fmt: skip
        return DocumentView(
            document_id=row[0], tenant=row[1], source_uri=row[2], title=row[3], dataset=row[4], mime_type=row[5],
            classification=Classification(row[6]), allowed_groups=json.loads(row[7]), latest_version=row[8],
            deleted=row[9] is not None, versions=versions,
        )  # fmt: skip

    async def get(self, document_id: str) -> DocumentView | None:
        def query() -> DocumentView | None:
            row = self._db.execute("SELECT * FROM documents WHERE document_id = ?", (document_id,)).fetchone()
            return None if row is None else self._view(row)

        return await self._run(query)

    async def list_documents(self, tenant: str, dataset: str, after: str, limit: int) -> list[DocumentView]:
        def query() -> list[DocumentView]:
            sql = "SELECT * FROM documents WHERE tenant = ? AND document_id > ?"
            args: list[Any] = [tenant, after]
            if dataset:
                sql += " AND dataset = ?"
                args.append(dataset)
            rows = self._db.execute(sql + " ORDER BY document_id LIMIT ?", (*args, limit)).fetchall()
            return [self._view(r) for r in rows]

        return await self._run(query)

    async def snapshot_dataset(
        self, tenant: str, dataset: str, name: str, by: str, at: datetime
    ) -> DatasetSnapshot | None:
        """Records the latest live version of every document in the dataset; None if the name is taken."""

        def write() -> DatasetSnapshot | None:
            with self._db:
                rows = self._db.execute(
                    "SELECT document_id, latest_version FROM documents WHERE tenant = ? AND dataset = ? "
                    "AND deleted_at IS NULL ORDER BY document_id",
                    (tenant, dataset),
                ).fetchall()
                versions = dict(rows)
                inserted = self._db.execute(
                    "INSERT OR IGNORE INTO dataset_versions VALUES (?, ?, ?, ?, ?, ?)",
                    (tenant, dataset, name, at.isoformat(), by, json.dumps(versions)),
                ).rowcount
            return DatasetSnapshot(dataset, name, at, by, versions) if inserted else None

        return await self._run(write)

    async def dataset_versions(self, tenant: str, dataset: str) -> list[DatasetSnapshot]:
        """The dataset's snapshots, oldest first."""

        def query() -> list[DatasetSnapshot]:
            rows = self._db.execute(
                "SELECT name, created_at, created_by, document_versions FROM dataset_versions "
                "WHERE tenant = ? AND dataset = ? ORDER BY created_at, name",
                (tenant, dataset),
            ).fetchall()
            return [
                DatasetSnapshot(dataset, name, datetime.fromisoformat(at), by, json.loads(versions))
                for name, at, by, versions in rows
            ]

        return await self._run(query)

    async def close(self) -> None:
        await self._database.close()
