"""Feedback's SQLite store: the interactions feedback may refer to, and the feedback given on them."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from llmops.sqlite import Database
from services.feedback.core import EvaluationRun, Interaction, Submission

_SCHEMA = """
CREATE TABLE IF NOT EXISTS monitor_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS interactions (
    interaction_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    user TEXT NOT NULL,
    prompt_name TEXT NOT NULL,
    prompt_version INTEGER NOT NULL,
    model TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT ''
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


_INTERACTION = "interaction_id, tenant, user, prompt_name, prompt_version, model, occurred_at, query, answer"


def _interaction(row: tuple[object, ...]) -> Interaction:
    return Interaction(
        str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]),  # type: ignore[call-overload]
        str(row[5]), datetime.fromisoformat(str(row[6])), str(row[7]), str(row[8]),
    )  # fmt: skip


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class FeedbackStore:
    """Interactions (idempotent upsert from events) and feedback rows, on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._database = Database(path, _SCHEMA)
        columns = {row[1] for row in self._database.connection.execute("PRAGMA table_info(interactions)")}
        for column in ("query", "answer") if "query" not in columns else ():
            # A store created before interactions kept their text: the texts start with new interactions.
            self._database.connection.execute(f"ALTER TABLE interactions ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")

    async def remember(self, interaction: Interaction) -> None:
        """Records an interaction once (a redelivered event changes nothing)."""

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT OR IGNORE INTO interactions (interaction_id, tenant, user, prompt_name, prompt_version, "
                    "model, occurred_at, query, answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (interaction.interaction_id, interaction.tenant, interaction.user, interaction.prompt_name,
                     interaction.prompt_version, interaction.model, _iso(interaction.occurred_at), interaction.query,
                     interaction.answer),
                )  # fmt: skip

        await self._database.run(write)

    async def interaction(self, interaction_id: str) -> Interaction | None:
        def read(db: sqlite3.Connection) -> Interaction | None:
            row = db.execute(
                f"SELECT {_INTERACTION} FROM interactions WHERE interaction_id = ?", (interaction_id,)
            ).fetchone()  # noqa: S608
            return _interaction(row) if row is not None else None

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

    async def training_rows(self, tenant: str, since: datetime | None) -> list[tuple[Interaction, str, float, str]]:
        """(interaction, feedback id, rating, corrected answer) of the tenant's feedback, oldest first."""

        def read(db: sqlite3.Connection) -> list[tuple[Interaction, str, float, str]]:
            rows = db.execute(
                f"SELECT {', '.join('i.' + c.strip() for c in _INTERACTION.split(','))}, f.feedback_id, f.rating, "  # noqa: S608
                "f.corrected_answer FROM feedback f JOIN interactions i ON i.interaction_id = f.interaction_id "
                "WHERE f.tenant = ? AND f.created_at >= ? ORDER BY f.created_at, f.feedback_id",
                (tenant, _iso(since) if since else ""),
            ).fetchall()
            return [(_interaction(r[:9]), str(r[9]), float(r[10]), str(r[11])) for r in rows]

        return await self._database.run(read)

    async def quality(
        self, tenant: str, prompt_name: str, start: datetime | None, end: datetime | None
    ) -> tuple[int, list[tuple[float, str, int]]]:
        """(interactions, [(rating, categories JSON, prompt version)]) in a time range, for one prompt or all."""

        def read(db: sqlite3.Connection) -> tuple[int, list[tuple[float, str, int]]]:
            where = ["i.tenant = ?", "i.occurred_at >= ?", "i.occurred_at < ?"]
            args: list[object] = [tenant, _iso(start) if start else "", _iso(end) if end else "9999"]
            if prompt_name:
                where.append("i.prompt_name = ?")
                args.append(prompt_name)
            condition = " AND ".join(where)
            count = db.execute(f"SELECT COUNT(*) FROM interactions i WHERE {condition}", args).fetchone()[0]  # noqa: S608
            rows = db.execute(
                f"SELECT f.rating, f.categories, i.prompt_version FROM feedback f "  # noqa: S608
                f"JOIN interactions i ON i.interaction_id = f.interaction_id WHERE {condition}",
                args,
            ).fetchall()
            return int(count), [(float(r[0]), str(r[1]), int(r[2])) for r in rows]

        return await self._database.run(read)

    async def save_monitor(self, state: dict[str, object], at: datetime) -> None:
        """Replaces the saved drift detector state."""
        text = json.dumps(state, separators=(",", ":"))

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT INTO monitor_state (id, state, saved_at) VALUES (1, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at",
                    (text, _iso(at)),
                )

        await self._database.run(write)

    async def load_monitor(self) -> dict[str, object] | None:
        """The saved drift detector state, or None."""

        def read(db: sqlite3.Connection) -> dict[str, object] | None:
            row = db.execute("SELECT state FROM monitor_state WHERE id = 1").fetchone()
            return json.loads(row[0]) if row is not None else None

        return await self._database.run(read)

    async def close(self) -> None:
        await self._database.close()
