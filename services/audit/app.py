"""Audit's use cases: record each event once (group commit), answer compliance queries, serve heads and proofs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from llmops.auth import Principal
from llmops.errors import InvalidArgument
from llmops.events import Event
from llmops.logging import get_logger
from services.audit.core import NewRecord, Page, Query, Record, page_of, record_of
from services.audit.ledger import SignedHead

log = get_logger(__name__)

QUERIED = "io.llmops.audit.queried.v1"
"""The record every compliance query leaves in the log it read."""
ERASED = "io.llmops.audit.erased.v1"
"""The record of a crypto-shredding: who asked, for whom, why."""


class AuditStore(Protocol):
    """Where the Merkle log lives (SQLite or PostgreSQL: adapters/sql_log.py)."""

    async def append(self, records: Sequence[NewRecord]) -> list[bool]: ...
    async def query(self, query: Query, limit: int) -> list[Record]: ...
    async def tree_head(self, tree_size: int = 0) -> SignedHead: ...
    async def inclusion_proof(self, sequence: int, tree_size: int) -> list[bytes]: ...
    async def consistency_proof(self, first_size: int, second_size: int) -> list[bytes]: ...
    async def reveal(self, records: Sequence[Record]) -> list[Record]: ...
    async def erase(self, tenant: str, subject: str) -> int: ...
    async def expire(self, event_type: str, before_day: str) -> int: ...
    async def close(self) -> None: ...


class GroupCommit:
    """Concurrent appends share one transaction and one signed head: the first caller waits `max_wait_s` for
    others to join, then writes; callers arriving meanwhile form the next batch. Each caller returns only once
    its record is durable."""

    def __init__(self, store: AuditStore, max_batch: int = 512, max_wait_s: float = 0.002) -> None:
        self.store = store
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._pending: list[tuple[NewRecord, asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.batches = 0

    async def append(self, record: NewRecord) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(self.max_wait_s)
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                try:
                    stored = await self.store.append([record for record, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting caller gets the failure (and nacks)
                    for _, future in batch:
                        future.set_exception(exc)
                else:
                    self.batches += 1
                    for (_, future), ok in zip(batch, stored, strict=True):
                        future.set_result(ok)
        finally:
            self._flushing = None


@dataclass(frozen=True)
class Proven:
    """A record as stored (what its leaf hashes) with its audit path, and its payload made readable."""

    record: Record
    proof: list[bytes]
    readable_payload_json: str


class AuditTrail:
    """The audit log's behaviour; the bus handlers and the gRPC servicer call this."""

    def __init__(self, store: AuditStore, writer: GroupCommit | None = None) -> None:
        self.store = store
        self.writer = writer or GroupCommit(store)

    async def record(self, event: Event, *, event_id: str, subject: str, source: str) -> bool:
        """Appends an event under its CloudEvents id; False when that id is already in the log.

        Returns only once the record is durable, so the caller may ack the message afterwards.
        """
        stored = await self.writer.append(record_of(event, event_id=event_id, subject=subject, source=source))
        if not stored:
            log.debug("duplicate event ignored", event_id=event_id, subject=subject)
        return stored

    async def query(self, query: Query, principal: Principal | None = None) -> Page:
        """One page of matching records in log order, with the token of the next page; the query is recorded."""
        if principal is not None:
            await self._record_query(principal, "query", query)
        # One row beyond the page tells whether another page exists, so the last page carries no token.
        rows = await self.store.query(query, query.page_size + 1)
        return page_of(await self.store.reveal(rows), query.page_size)

    async def export(self, query: Query, principal: Principal) -> tuple[SignedHead, AsyncIterator[Proven]]:
        """Every matching record with its inclusion proof against the latest signed head (fixed at the start)."""
        await self._record_query(principal, "export", query)
        head = await self.store.tree_head()

        async def proven() -> AsyncIterator[Proven]:
            page = query
            while True:
                rows = await self.store.query(page, page.page_size)
                readable = await self.store.reveal(rows)
                for record, revealed in zip(rows, readable, strict=True):
                    if record.sequence >= head.head.tree_size:
                        return
                    proof = await self.store.inclusion_proof(record.sequence, head.head.tree_size)
                    yield Proven(record, proof, revealed.payload_json)
                if len(rows) < page.page_size:
                    return
                page = Query(**{**vars(page), "from_sequence": rows[-1].sequence + 1})

        return head, proven()

    async def tree_head(self, tree_size: int = 0) -> SignedHead:
        return await self.store.tree_head(tree_size)

    async def inclusion_proof(self, sequence: int, tree_size: int = 0) -> tuple[int, list[bytes]]:
        """(tree size, audit path) of a record; tree size 0 means the latest signed head's."""
        size = await self._size(tree_size)
        if not 0 <= sequence < size:
            raise InvalidArgument(f"sequence {sequence} is not in a tree of {size} records (0 ≤ sequence < size)")
        return size, await self.store.inclusion_proof(sequence, size)

    async def consistency_proof(self, first_size: int, second_size: int = 0) -> tuple[int, list[bytes]]:
        """(second size, proof) that the log at `second_size` (0: latest) extends the log at `first_size`."""
        size = await self._size(second_size)
        if not 0 < first_size <= size:
            raise InvalidArgument(f"first_size {first_size} must be between 1 and the second size {size}")
        return size, await self.store.consistency_proof(first_size, size)

    async def _size(self, tree_size: int) -> int:
        latest = (await self.store.tree_head()).head.tree_size
        if tree_size < 0 or tree_size > latest:
            raise InvalidArgument(f"tree_size {tree_size} is beyond the log's {latest} records (0 means latest)")
        return tree_size or latest

    async def erase(self, principal: Principal, data_subject: str, reason: str) -> int:
        """Crypto-shreds a person's personal fields in the principal's tenant; the erasure itself is recorded."""
        subject, why = data_subject.strip(), reason.strip()
        if not subject:
            raise InvalidArgument("data_subject is empty; name the user whose personal data is to be erased")
        if not why:
            raise InvalidArgument("reason is empty; say why (the request reference), it is kept in the log")
        destroyed = await self.store.erase(principal.tenant, subject)
        body = {"data_subject": subject, "reason": why, "keys_destroyed": destroyed, "by": principal.subject}
        await self._record_admin(principal, ERASED, "audit.v1.erased", body)
        log.info("data subject erased", tenant=principal.tenant, keys_destroyed=destroyed)
        return destroyed

    async def apply_retention(self, retention_days: Mapping[str, int], now: datetime) -> int:
        """Destroys the keys of personal fields older than each event type's retention; returns how many."""
        destroyed = 0
        for event_type, days in retention_days.items():
            cutoff = (now - timedelta(days=days)).strftime("%Y-%m-%d")
            destroyed += await self.store.expire(event_type, cutoff)
        if destroyed:
            log.info("retention applied", keys_destroyed=destroyed)
        return destroyed

    async def _record_query(self, principal: Principal, kind: str, query: Query) -> None:
        filters = {k: v for k, v in vars(query).items() if v not in (None, "", (), 0) and k != "page_size"}
        body = {"kind": kind, "by": principal.subject, "filters": json.loads(json.dumps(filters, default=str))}
        await self._record_admin(principal, QUERIED, "audit.v1.queried", body)

    async def _record_admin(
        self, principal: Principal, event_type: str, subject: str, body: Mapping[str, object]
    ) -> None:
        """An administrative action, written to the log directly (it is the audit service's own act)."""
        await self.writer.append(
            NewRecord(
                event_id=str(uuid.uuid4()),
                event_type=event_type,
                subject=subject,
                source="llmops/audit",
                time=datetime.now(UTC),
                tenant=principal.tenant,
                interaction_id="",
                document_id="",
                user=principal.subject,
                payload_json=json.dumps(body, sort_keys=True),
            )
        )
