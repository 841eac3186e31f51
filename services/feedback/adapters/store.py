"""Feedback's SQLite store: the interactions feedback may refer to, and the feedback given on them."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from llmops.sqlite import Database
from services.feedback.core import EvaluationRun, Interaction, Submission

_SCHEMA = """
CREATE TABLE IF NOT EXISTS interactions (
    interaction_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    user TEXT NOT NULL,
    prompt_name TEXT NOT NULL,
    prompt_version INTEGER NOT NULL,
    model TEXT NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id TEXT PRIMARY KEY,
    interaction_id TEXT NOT NULL REFERENCES interactions (interaction_id),
    tenant TEXT NOT NULL,
    user TEXT NOT NULL,
    rating REAL NOT NULL,
    scale TEXT NOT NULL,
    categories TEXT NOT NULL,
    comment TEXT NOT NULL,
    corrected_answer TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_interaction ON feedback (interaction_id);
CREATE TABLE IF NOT EXISTS evaluations (
    evaluation_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    golden_set TEXT NOT NULL,
    golden_set_version TEXT NOT NULL,
    prompt_name TEXT NOT NULL,
    prompt_version INTEGER NOT NULL,
    model TEXT NOT NULL,
    metrics TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_by_set ON evaluations (tenant, golden_set, prompt_name, finished_at);
"""


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class FeedbackStore:
    """Interactions (idempotent upsert from events) and feedback rows, on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._database = Database(path, _SCHEMA)

    async def remember(self, interaction: Interaction) -> None:
        """Records an interaction once (a redelivered event changes nothing)."""

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT OR IGNORE INTO interactions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (interaction.interaction_id, interaction.tenant, interaction.user, interaction.prompt_name,
                     interaction.prompt_version, interaction.model, _iso(interaction.occurred_at)),
                )  # fmt: skip

        await self._database.run(write)

    async def interaction(self, interaction_id: str) -> Interaction | None:
        def read(db: sqlite3.Connection) -> Interaction | None:
            row = db.execute("SELECT * FROM interactions WHERE interaction_id = ?", (interaction_id,)).fetchone()
            if row is None:
                return None
            return Interaction(row[0], row[1], row[2], row[3], int(row[4]), row[5], datetime.fromisoformat(row[6]))

        return await self._database.run(read)

    async def add(self, feedback_id: str, tenant: str, user: str, submission: Submission, at: datetime) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (feedback_id, submission.interaction_id, tenant, user, submission.rating, submission.scale,
                     json.dumps([c.value for c in submission.categories]), submission.comment,
                     submission.corrected_answer, _iso(at)),
                )  # fmt: skip

        await self._database.run(write)

    async def ratings(self, interaction_id: str) -> list[float]:
        def read(db: sqlite3.Connection) -> list[float]:
            rows = db.execute(
                "SELECT rating FROM feedback WHERE interaction_id = ? ORDER BY created_at", (interaction_id,)
            )
            return [float(r[0]) for r in rows]

        return await self._database.run(read)

    async def add_evaluation(self, run: EvaluationRun) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.evaluation_id, run.tenant, run.golden_set, run.golden_set_version, run.prompt_name,
                     run.prompt_version, run.model, json.dumps(run.metrics), run.requested_by, _iso(run.finished_at)),
                )  # fmt: skip

        await self._database.run(write)

    async def last_evaluation(
        self, tenant: str, golden_set: str, prompt_name: str, prompt_version: int | None = None
    ) -> EvaluationRun | None:
        """The latest run of a golden set for a prompt (of one version, or any): what the next run is compared
        with, and what a promotion is judged on."""

        def read(db: sqlite3.Connection) -> EvaluationRun | None:
            version_filter = "" if prompt_version is None else " AND prompt_version = ?"
            args: tuple[object, ...] = (tenant, golden_set, prompt_name)
            if prompt_version is not None:
                args = (*args, prompt_version)
            row = db.execute(
                "SELECT * FROM evaluations WHERE tenant = ? AND golden_set = ? AND prompt_name = ?"  # noqa: S608
                f"{version_filter} ORDER BY finished_at DESC LIMIT 1",
                args,
            ).fetchone()
            if row is None:
                return None
            return EvaluationRun(row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], json.loads(row[7]),
                                 row[8], datetime.fromisoformat(row[9]))  # fmt: skip

        return await self._database.run(read)

    async def close(self) -> None:
        await self._database.close()
