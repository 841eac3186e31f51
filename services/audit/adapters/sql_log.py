"""The audit log on SQL: SQLite (embedded default) and PostgreSQL (production) behind one implementation.

Three tables: `audit_records` (one row per event id, append-only by trigger), `audit_nodes` (every perfect subtree
of the Merkle tree, leaves included, so proofs cost O(log n) lookups) and `audit_heads` (one signed tree head per
committed batch, with the compact range the next batch continues from). A batch is one transaction: records,
nodes and its signed head commit together or not at all, so a crash at any point leaves no gap and no fork.
Where the SQL runs (SQLite or PostgreSQL) is `sql_engines`; a fourth table holds the keys of personal fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from llmops import merkle
from llmops.errors import InvalidArgument, NotFound
from llmops.events import GuardrailsFlagged
from llmops.tree_head import TreeHead
from services.audit.adapters.sql_engines import Engine, Session
from services.audit.core import NewRecord, Query, Record
from services.audit.ledger import Sealer, SignedHead, extend, frontier_bytes, frontier_from, iso
from services.audit.privacy import KeyRef, decrypt_personal, encrypt_personal, has_personal_fields, new_key

_COLUMNS = (
    'sequence, event_id, event_type, subject, source, time, recorded_at, tenant, interaction_id, document_id, "user", '
    "payload_json"
)


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _record(row: Sequence[Any]) -> Record:
    return Record(
        sequence=row[0], event_id=row[1], event_type=row[2], subject=row[3], source=row[4], time=_parse(row[5]),
        recorded_at=_parse(row[6]), tenant=row[7], interaction_id=row[8], document_id=row[9], user=row[10],
        payload_json=row[11],
    )  # fmt: skip


def _where(query: Query, json_text: Callable[[str], str]) -> tuple[str, list[Any]]:
    conditions = ["sequence >= ?"]
    args: list[Any] = [query.from_sequence]
    for column, value in (
        ("tenant", query.tenant),
        ('"user"', query.user),
        ("interaction_id", query.interaction_id),
        ("document_id", query.document_id),
    ):
        if value:
            conditions.append(f"{column} = ?")
            args.append(value)
    if query.event_types:
        conditions.append(f"event_type IN ({', '.join('?' * len(query.event_types))})")
        args.extend(query.event_types)
    for name, value in (
        ("model", query.model),
        ("prompt_name", query.prompt_name),
        ("prompt_version", str(query.prompt_version) if query.prompt_version else ""),
        ("action", query.guardrail_action),
    ):
        if value:
            conditions.append(f"{json_text(name)} = ?")
            args.append(value)
    if query.guardrail_action:
        conditions.append("event_type = ?")
        args.append(GuardrailsFlagged.type)
    if query.start is not None:
        conditions.append("time >= ?")
        args.append(iso(query.start))
    if query.end is not None:
        conditions.append("time < ?")
        args.append(iso(query.end))
    return " AND ".join(conditions), args


def _head(row: Sequence[Any]) -> SignedHead:
    return SignedHead(TreeHead(int(row[0]), bytes(row[1]), int(row[2])), bytes(row[3]))


_HEAD_COLUMNS = "tree_size, root_hash, timestamp_ms, signature, frontier"


class SqlAuditLog:
    """The Merkle audit log on an engine; `append` takes a batch (group commit) and seals it with one head."""

    def __init__(self, engine: Engine, sealer: Sealer) -> None:
        self.engine = engine
        self.sealer = sealer

    async def append(self, records: Sequence[NewRecord]) -> list[bool]:
        """Stores the records not yet in the log (by event id) as one transaction ending in a signed head;
        returns, per record, whether it was stored now (False: already there)."""
        return await self.engine.write(lambda session: self._append(session, records))

    def _append(self, session: Session, records: Sequence[NewRecord]) -> list[bool]:
        ids = list(dict.fromkeys(r.event_id for r in records))
        known = {row[0] for row in session.rows(
            f"SELECT event_id FROM audit_records WHERE event_id IN ({', '.join('?' * len(ids))})", ids
        )} if ids else set()  # fmt: skip
        latest = session.rows(f"SELECT {_HEAD_COLUMNS} FROM audit_heads ORDER BY tree_size DESC LIMIT 1")
        frontier = frontier_from(int(latest[0][0]), bytes(latest[0][4])) if latest else merkle.CompactRange()
        now = datetime.now(UTC)
        fresh: list[Record] = []
        stored: list[bool] = []
        keys = _keys_for(session, [r for r in records if r.event_id not in known], create=True)
        for record in records:
            if record.event_id in known:
                stored.append(False)
                continue
            known.add(record.event_id)
            ref = KeyRef.of(record)
            payload = record.payload_json
            if ref in keys:
                payload = encrypt_personal(payload, record.event_type, ref, keys[ref])
            fields = {**vars(record), "payload_json": payload}
            fresh.append(Record(**fields, sequence=frontier.size + len(fresh), recorded_at=now))
            stored.append(True)
        if not fresh:
            return stored
        grown = extend(frontier, fresh)
        session.execute_many(
            f"INSERT INTO audit_records ({_COLUMNS}) VALUES ({', '.join('?' * 12)})",  # noqa: S608
            [
                (r.sequence, r.event_id, r.event_type, r.subject, r.source, iso(r.time), iso(now), r.tenant,
                 r.interaction_id, r.document_id, r.user, r.payload_json)
                for r in fresh
            ],
        )  # fmt: skip
        session.execute_many(
            "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)",
            [(n.level, n.index, n.hash) for n in grown.nodes],
        )
        sealed = self.sealer.seal(grown.frontier.size, grown.frontier.root())
        session.execute(
            f"INSERT INTO audit_heads ({_HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (sealed.head.tree_size, sealed.head.root_hash, sealed.head.timestamp_ms, sealed.signature,
             frontier_bytes(grown.frontier)),
        )  # fmt: skip
        return stored

    async def reveal(self, records: Sequence[Record]) -> list[Record]:
        """The records with their personal fields decrypted, or `[erased]` where the key was destroyed."""

        def read(session: Session) -> list[Record]:
            keys = _keys_for(session, records, create=False)
            revealed = []
            for r in records:
                ref = KeyRef.of(r)
                readable = decrypt_personal(r.payload_json, r.event_type, ref, keys.get(ref))
                revealed.append(replace(r, payload_json=readable))
            return revealed

        return await self.engine.read(read)

    async def erase(self, tenant: str, subject: str) -> int:
        """Destroys every key of a data subject in a tenant; returns how many."""
        return await self.engine.write(lambda s: _delete_keys(s, "tenant = ? AND subject = ?", [tenant, subject]))

    async def expire(self, event_type: str, before_day: str) -> int:
        """Destroys the keys of an event type's days before `before_day` (YYYY-MM-DD): retention."""
        return await self.engine.write(
            lambda s: _delete_keys(s, "event_type = ? AND day < ?", [event_type, before_day])
        )

    async def query(self, query: Query, limit: int) -> list[Record]:
        """At most `limit` records matching `query`, from position `query.from_sequence`, in log order (as stored:
        personal fields encrypted; `reveal` decrypts them)."""
        where, args = _where(query, self.engine.json_text)
        sql = f"SELECT {_COLUMNS} FROM audit_records WHERE {where} ORDER BY sequence LIMIT ?"  # noqa: S608
        return await self.engine.read(lambda s: [_record(row) for row in s.rows(sql, [*args, limit])])

    async def tree_head(self, tree_size: int = 0) -> SignedHead:
        """The latest signed head, or the one signed at exactly `tree_size`."""
        if tree_size < 0:
            raise InvalidArgument(f"tree_size must be 0 (latest) or a size the log was signed at, got {tree_size}")

        def read(session: Session) -> SignedHead:
            if tree_size:
                rows = session.rows(f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE tree_size = ?", [tree_size])
            else:
                rows = session.rows(f"SELECT {_HEAD_COLUMNS} FROM audit_heads ORDER BY tree_size DESC LIMIT 1")
            if not rows:
                raise NotFound(
                    f"no tree head was signed at size {tree_size}; heads exist at each committed batch"
                    if tree_size
                    else "the audit log is empty: no tree head yet"
                )
            return _head(rows[0])

        return await self.engine.read(read)

    async def heads(self) -> list[SignedHead]:
        """Every signed head, in size order (verifying the whole history checks each against the next)."""
        return await self.engine.read(
            lambda s: [_head(r) for r in s.rows(f"SELECT {_HEAD_COLUMNS} FROM audit_heads ORDER BY tree_size")]
        )

    async def inclusion_proof(self, sequence: int, tree_size: int) -> list[bytes]:
        """The audit path of record `sequence` in the tree of `tree_size` records."""
        return await self.engine.read(lambda s: merkle.inclusion_proof(_range_hash(s), sequence, tree_size))

    async def consistency_proof(self, first_size: int, second_size: int) -> list[bytes]:
        """The proof that the tree of `second_size` records extends the tree of `first_size`."""
        return await self.engine.read(lambda s: merkle.consistency_proof(_range_hash(s), first_size, second_size))

    async def records(self, start: int, end: int) -> list[Record]:
        """Records [start, end) in log order, whatever they hold (the verifier reads the whole log this way)."""
        sql = f"SELECT {_COLUMNS} FROM audit_records WHERE sequence >= ? AND sequence < ? ORDER BY sequence"  # noqa: S608
        return await self.engine.read(lambda s: [_record(row) for row in s.rows(sql, [start, end])])

    async def close(self) -> None:
        await self.engine.close()


def _keys_for(session: Session, records: Sequence[NewRecord], *, create: bool) -> dict[KeyRef, bytes]:
    """The keys of the records that carry personal fields; with `create`, missing ones are made (same transaction)."""
    refs = sorted({KeyRef.of(r) for r in records if has_personal_fields(r.event_type)})
    keys: dict[KeyRef, bytes] = {}
    for ref in refs:
        rows = session.rows(
            "SELECT key FROM audit_subject_keys WHERE tenant = ? AND subject = ? AND event_type = ? AND day = ?",
            [ref.tenant, ref.subject, ref.event_type, ref.day],
        )
        if rows:
            keys[ref] = bytes(rows[0][0])
        elif create:
            keys[ref] = new_key()
            session.execute(
                "INSERT INTO audit_subject_keys (tenant, subject, event_type, day, key) VALUES (?, ?, ?, ?, ?)",
                [ref.tenant, ref.subject, ref.event_type, ref.day, keys[ref]],
            )
    return keys


def _delete_keys(session: Session, where: str, args: list[Any]) -> int:
    count = int(session.rows(f"SELECT COUNT(*) FROM audit_subject_keys WHERE {where}", args)[0][0])  # noqa: S608
    session.execute(f"DELETE FROM audit_subject_keys WHERE {where}", args)  # noqa: S608 - constant conditions
    return count


def _range_hash(session: Session) -> merkle.RangeHash:
    def lookup(level: int, index: int) -> bytes:
        rows = session.rows("SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?", [level, index])
        if not rows:
            raise NotFound(f"the Merkle node at level {level}, index {index} is missing from the store")
        return bytes(rows[0][0])

    return merkle.node_range_hash(lookup)
