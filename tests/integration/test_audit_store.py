"""One congruence suite for the Merkle audit log on SQLite and PostgreSQL: exactly-once appends, append-only
storage, filters and pages, group commit, signed heads and proofs, and tampering a verifier catches.

PostgreSQL runs when LLMOPS_TEST_POSTGRES_DSN is set (CI sets it when a server answers on 127.0.0.1:5432); each
test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmops import merkle
from llmops.audit_verify import SignedHeadView, VerificationError, verify_export, verify_extension
from llmops.auth import Principal
from llmops.events import DocumentDeleted, GuardrailsFlagged, InteractionCompleted, Usage
from services.audit.adapters.sealing import Ed25519Sealer
from services.audit.adapters.sql_engines import Engine, PostgresEngine, SqliteEngine
from services.audit.adapters.sql_log import SqlAuditLog
from services.audit.app import QUERIED, AuditTrail, GroupCommit
from services.audit.core import Query, record_of, validate_query
from services.audit.ledger import SignedHead, record_leaf_hash
from services.audit.mappers import head_json, proven_json

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
POSTGRES_DSN = os.environ.get("LLMOPS_TEST_POSTGRES_DSN", "")
KEY = Ed25519PrivateKey.generate()
AUDITOR = Principal(tenant="acme", subject="carla")


def interaction(n: int, tenant: str = "acme", user: str = "ann") -> InteractionCompleted:
    return InteractionCompleted(
        tenant=tenant, occurred_at=T0 + timedelta(minutes=n), interaction_id=f"i{n}", user=user, query="q",
        answer="a", citations=[], model="m", prompt_name="p", prompt_version=1, usage=Usage(), retrieve_ms=1,
        generate_ms=2, total_ms=3,
    )  # fmt: skip


def query(**overrides: object) -> Query:
    args: dict[str, object] = {
        "start": None, "end": None, "tenant": "", "user": "", "event_types": [], "interaction_id": "",
        "document_id": "", "page_size": 0, "page_token": "",
    }  # fmt: skip
    args.update(overrides)
    return validate_query(**args)  # type: ignore[arg-type]


@dataclass
class Backend:
    """How to open the same log again and how to reach its tables behind the service's back."""

    name: str
    open: Callable[[], Engine]
    tamper: Callable[[str], None]
    """Runs SQL against the tables with the append-only triggers switched off: what an attacker with DB access does."""


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "audit.sqlite3"

        def tamper_sqlite(sql: str) -> None:
            db = sqlite3.connect(path)
            try:
                for table in ("audit_records", "audit_nodes", "audit_heads"):
                    for verb in ("update", "delete"):
                        db.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
                db.executescript(sql)
                db.commit()
            finally:
                db.close()

        yield Backend("sqlite", lambda: SqliteEngine(path), tamper_sqlite)
        return
    if not POSTGRES_DSN:
        pytest.skip("PostgreSQL: set LLMOPS_TEST_POSTGRES_DSN to run the suite against a server")
    import psycopg

    schema = f"audit_test_{uuid.uuid4().hex[:12]}"

    def tamper_postgres(sql: str) -> None:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as db:
            db.execute(f"SET search_path TO {schema}")
            for table in ("audit_records", "audit_nodes", "audit_heads"):
                db.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            db.execute(sql)

    yield Backend("postgres", lambda: PostgresEngine(POSTGRES_DSN, schema), tamper_postgres)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
async def log(backend: Backend) -> AsyncIterator[SqlAuditLog]:
    instance = SqlAuditLog(backend.open(), Ed25519Sealer(KEY))
    yield instance
    await instance.close()


async def append(log: SqlAuditLog, *events: InteractionCompleted | DocumentDeleted) -> list[bool]:
    return await log.append([record_of(e, event_id=e.event_id, subject=e.subject, source="test") for e in events])


async def read(log: SqlAuditLog, **overrides: object) -> list[tuple[int, str]]:
    return [(r.sequence, r.interaction_id or r.document_id) for r in await log.query(query(**overrides), 1000)]


async def exported(trail: AuditTrail, public_key: bytes) -> list[str]:
    head, proven = await trail.export(query(), AUDITOR)
    lines = [json.dumps(head_json(head, public_key))]
    lines += [json.dumps(proven_json(item, head.head.tree_size)) async for item in proven]
    return lines


def view(signed: SignedHead, key: bytes) -> SignedHeadView:
    return SignedHeadView(signed.head, signed.signature, key)


# --- storage behaviour ---------------------------------------------------------------------------------------


async def test_an_event_is_stored_once_however_often_it_arrives(log: SqlAuditLog) -> None:
    """Redeliveries and re-publishes carry the same id and are ignored, leaving no gap in the sequence."""
    assert await append(log, interaction(1)) == [True]
    assert await append(log, interaction(1), interaction(2), interaction(2)) == [False, True, False]
    records = await log.query(query(), 10)
    assert [(r.sequence, r.interaction_id, r.user, r.source) for r in records] == [
        (0, "i1", "ann", "test"), (1, "i2", "ann", "test"),
    ]  # fmt: skip
    assert records[0].time == T0 + timedelta(minutes=1) and records[0].recorded_at is not None
    assert (await log.tree_head()).head.tree_size == 2


async def test_the_database_refuses_updates_and_deletes(log: SqlAuditLog, backend: Backend, tmp_path: Path) -> None:
    """Append-only is enforced by triggers, so even another connection cannot rewrite history."""
    await append(log, interaction(1))
    if backend.name == "sqlite":
        db = sqlite3.connect(tmp_path / "audit.sqlite3")
        try:
            for sql in ("UPDATE audit_records SET tenant = 'evil'", "DELETE FROM audit_records",
                        "DELETE FROM audit_heads", "UPDATE audit_nodes SET hash = x'00'"):  # fmt: skip
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    db.execute(sql)
        finally:
            db.close()
    else:
        import psycopg

        with psycopg.connect(POSTGRES_DSN, autocommit=True) as db:
            db.execute(f"SET search_path TO {log.engine.schema}")  # type: ignore[attr-defined]
            for sql in ("UPDATE audit_records SET tenant = 'evil'", "DELETE FROM audit_records"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    db.execute(sql)
    assert [r.tenant for r in await log.query(query(), 10)] == ["acme"]


async def test_the_log_survives_a_reopen_and_continues_its_sequence_and_tree(backend: Backend) -> None:
    """Records are durable on return; a restarted service appends after them, still dedupes, and its next head
    extends the previous one."""
    first = SqlAuditLog(backend.open(), Ed25519Sealer(KEY))
    await append(first, interaction(1), interaction(2), interaction(3))
    before = await first.tree_head()
    await first.close()
    second = SqlAuditLog(backend.open(), Ed25519Sealer(KEY))
    try:
        assert await append(second, interaction(1), interaction(4)) == [False, True]
        assert await read(second) == [(0, "i1"), (1, "i2"), (2, "i3"), (3, "i4")]
        after = await second.tree_head()
        key = Ed25519Sealer(KEY).public_key
        verify_extension(view(before, key), view(after, key), await second.consistency_proof(3, 4), key)
    finally:
        await second.close()


async def test_filters_combine_and_the_time_range_is_half_open(log: SqlAuditLog) -> None:
    """Start is inclusive, end exclusive; tenant, user, type and ids narrow the result."""
    for n in range(5):
        await append(log, interaction(n, tenant="acme" if n % 2 == 0 else "globex", user="ann" if n < 3 else "cy"))
    await append(log, DocumentDeleted(tenant="acme", occurred_at=T0, document_id="d1", version=1, deleted_by="bob"))

    assert await read(log, tenant="acme", event_types=[InteractionCompleted.type]) == [(0, "i0"), (2, "i2"), (4, "i4")]
    assert await read(log, start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)) == [(1, "i1"), (2, "i2")]
    assert await read(log, user="cy") == [(3, "i3"), (4, "i4")]
    assert await read(log, user="bob", document_id="d1") == [(5, "d1")]
    assert await read(log, interaction_id="i3", tenant="acme") == []
    assert await read(log, event_types=[DocumentDeleted.type, "io.llmops.none.v1"]) == [(5, "d1")]


async def test_payload_filters_find_models_prompts_and_guardrail_verdicts(log: SqlAuditLog) -> None:
    first = interaction(1).model_copy(update={"model": "small", "prompt_version": 2})
    second = interaction(2).model_copy(update={"model": "large", "prompt_name": "rag-grounded", "prompt_version": 3})
    flagged = GuardrailsFlagged(tenant="acme", check_id="c1", stage="input", action="block", policy_id="default",
                                policy_version=1, findings=[], interaction_id="i9")  # fmt: skip
    await append(log, first, second, flagged)
    assert await read(log, model="small") == [(0, "i1")]
    assert await read(log, prompt_name="rag-grounded", prompt_version=3) == [(1, "i2")]
    assert await read(log, prompt_version=2) == [(0, "i1")]
    assert await read(log, guardrail_action="block") == [(2, "i9")]
    assert await read(log, guardrail_action="redact") == []


async def test_pages_follow_each_other_and_every_query_is_itself_recorded(log: SqlAuditLog) -> None:
    for n in range(7):
        await append(log, interaction(n, tenant="acme" if n != 3 else "globex"))
    trail = AuditTrail(log)
    seen: list[int] = []
    token, pages = "", 0
    while True:
        page = await trail.query(query(tenant="acme", page_size=2, page_token=token), AUDITOR)
        seen.extend(r.sequence for r in page.records if r.event_type != QUERIED)
        pages += 1
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert seen == [0, 1, 2, 4, 5, 6]
    recorded = await log.query(query(event_types=[QUERIED]), 100)
    assert len(recorded) == pages and {r.user for r in recorded} == {"carla"}
    assert '"tenant": "acme"' in recorded[0].payload_json


async def test_concurrent_appends_share_transactions_and_heads(log: SqlAuditLog) -> None:
    """Group commit: 200 concurrent writers end in far fewer transactions, each sealed by one head, no gaps."""
    writer = GroupCommit(log, max_wait_s=0.01)
    events = [interaction(n) for n in range(200)]
    stored = await asyncio.gather(
        *(writer.append(record_of(e, event_id=e.event_id, subject=e.subject, source="t")) for e in events)
    )
    assert all(stored)
    assert writer.batches < 20
    assert [r.sequence for r in await log.query(query(), 1000)] == list(range(200))
    assert (await log.tree_head()).head.tree_size == 200


async def test_a_failed_batch_leaves_nothing_behind(backend: Backend) -> None:
    """A crash inside the transaction (here: signing fails) writes no record, node or head: no gap, no fork."""

    class FailingSealer(Ed25519Sealer):
        def seal(self, tree_size: int, root_hash: bytes) -> SignedHead:
            raise RuntimeError("power cut while signing")

    log = SqlAuditLog(backend.open(), Ed25519Sealer(KEY))
    await append(log, interaction(1))
    await log.close()
    broken = SqlAuditLog(backend.open(), FailingSealer(KEY))
    with pytest.raises(RuntimeError, match="power cut"):
        await append(broken, interaction(2), interaction(3))
    await broken.close()
    log = SqlAuditLog(backend.open(), Ed25519Sealer(KEY))
    try:
        assert await read(log) == [(0, "i1")]
        assert await append(log, interaction(2)) == [True]
        assert (await log.tree_head()).head.tree_size == 2
        assert [h.head.tree_size for h in await log.heads()] == [1, 2]
    finally:
        await log.close()


# --- proofs ----------------------------------------------------------------------------------------------------


async def test_every_record_is_proven_in_every_signed_head_and_heads_are_consistent(log: SqlAuditLog) -> None:
    key = log.sealer.public_key
    for batch in range(6):
        await append(log, *(interaction(batch * 10 + n) for n in range(batch + 1)))
    heads = await log.heads()
    assert [h.head.tree_size for h in heads] == [1, 3, 6, 10, 15, 21]
    records = await log.records(0, 21)
    for signed in heads:
        view(signed, key).verify(key)
        for record in records[: signed.head.tree_size]:
            proof = await log.inclusion_proof(record.sequence, signed.head.tree_size)
            merkle.verify_inclusion(
                record_leaf_hash(record), record.sequence, signed.head.tree_size, proof, signed.head.root_hash
            )
    for earlier, later in zip(heads, heads[1:], strict=False):
        proof = await log.consistency_proof(earlier.head.tree_size, later.head.tree_size)
        verify_extension(view(earlier, key), view(later, key), proof, key)


async def test_an_export_verifies_completely_under_the_pinned_key(log: SqlAuditLog) -> None:
    await append(log, *(interaction(n) for n in range(9)))
    trail = AuditTrail(log)
    key = log.sealer.public_key
    report = verify_export(await exported(trail, key), key)
    assert report.complete and report.records == 10  # the nine events and the export's own record
    with pytest.raises(VerificationError, match="different signing key"):
        verify_export(await exported(trail, key), Ed25519PrivateKey.generate().public_key().public_bytes_raw())


@pytest.mark.parametrize(
    ("attack", "sql"),
    [
        ("edit", "UPDATE audit_records SET payload_json = replace(payload_json, '\"m\"', '\"evil\"') "
                 "WHERE sequence = 2"),
        ("delete", "DELETE FROM audit_records WHERE sequence = 3"),
        ("reorder", "UPDATE audit_records SET event_id = event_id || '-x', sequence = sequence + 100 "
                    "WHERE sequence IN (1, 2); UPDATE audit_records SET sequence = 2 WHERE sequence = 101; "
                    "UPDATE audit_records SET sequence = 1 WHERE sequence = 102"),
        ("insert", "DELETE FROM audit_records WHERE sequence = 4; INSERT INTO audit_records SELECT 4, 'forged', "
                   "event_type, subject, source, time, recorded_at, tenant, 'i-forged', document_id, \"user\", "
                   "payload_json FROM audit_records WHERE sequence = 0"),
    ],
)  # fmt: skip
async def test_tampered_storage_is_detected(log: SqlAuditLog, backend: Backend, attack: str, sql: str) -> None:
    await append(log, *(interaction(n) for n in range(6)))
    trail = AuditTrail(log)
    key = log.sealer.public_key
    assert verify_export(await exported(trail, key), key).complete
    for statement in sql.split("; "):
        backend.tamper(statement)
    lines = await exported(trail, key)
    if attack == "delete":
        # Every remaining proof still holds; what fails is completeness: a position is missing.
        report = verify_export(lines, key)
        assert not report.complete and 3 not in report.positions
    else:
        with pytest.raises(VerificationError, match="not in the signed tree"):
            verify_export(lines, key)


async def test_a_forged_proof_from_a_malicious_server_is_rejected(log: SqlAuditLog) -> None:
    await append(log, *(interaction(n) for n in range(8)))
    trail = AuditTrail(log)
    key = log.sealer.public_key
    lines = await exported(trail, key)
    forged = json.loads(lines[3])
    forged["entry"]["tenant"] = "globex"  # the server claims a record said something else
    with pytest.raises(VerificationError, match="line 2"):
        verify_export([lines[0], json.dumps(forged)], key)
    swapped = json.loads(lines[2])
    swapped["proof"][0] = swapped["proof"][-1]
    with pytest.raises(VerificationError, match="not in the signed tree"):
        verify_export([lines[0], json.dumps(swapped)], key)
    head = json.loads(lines[0])
    head["tree_head"]["tree_size"] = 7  # a head the key never signed
    with pytest.raises(VerificationError, match="signature"):
        verify_export([json.dumps(head)], key)


# --- privacy ---------------------------------------------------------------------------------------------------


async def test_personal_fields_are_stored_encrypted_and_read_back_for_compliance(log: SqlAuditLog) -> None:
    asked = interaction(1).model_copy(update={"query": "Can I take leave for my <PERSON_3f9a1c> surgery?"})
    await append(log, asked)
    (stored,) = await log.records(0, 1)
    assert "surgery" not in stored.payload_json and '"query": "enc:v1:' in stored.payload_json
    page = await AuditTrail(log).query(query(event_types=[InteractionCompleted.type]), AUDITOR)
    assert InteractionCompleted.model_validate_json(page.records[0].payload_json).query == asked.query


async def test_erasing_a_subject_shreds_their_fields_and_the_log_still_verifies(log: SqlAuditLog) -> None:
    ann = interaction(1, user="ann").model_copy(update={"query": "ann's question", "answer": "ann's answer"})
    bob = interaction(2, user="bob").model_copy(update={"query": "bob's question"})
    other_tenant = interaction(3, tenant="globex", user="ann").model_copy(update={"query": "globex ann"})
    await append(log, ann, bob, other_tenant)
    trail = AuditTrail(log)
    key = log.sealer.public_key

    assert await trail.erase(AUDITOR, "ann", "GDPR request #4711") == 1
    readable = {
        r.interaction_id: json.loads(r.payload_json)
        for r in (await trail.query(query(event_types=[InteractionCompleted.type]), AUDITOR)).records
    }
    assert (readable["i1"]["query"], readable["i1"]["answer"]) == ("[erased]", "[erased]")
    assert readable["i2"]["query"] == "bob's question"  # another person
    assert readable["i3"]["query"] == "globex ann"  # the same name in another tenant is another person
    assert readable["i1"]["model"] == "m"  # what is not personal stays

    report = verify_export(await exported(trail, key), key)
    assert report.complete  # shredding changed nothing a verifier checks
    (erasure,) = await log.query(query(event_types=["io.llmops.audit.erased.v1"]), 10)
    assert json.loads(erasure.payload_json)["reason"] == "GDPR request #4711" and erasure.user == "carla"
    assert await trail.erase(AUDITOR, "ann", "again") == 0  # idempotent


@pytest.mark.parametrize(("subject", "reason", "needle"), [(" ", "r", "data_subject is empty"), ("ann", "", "reason")])
async def test_an_erasure_without_subject_or_reason_is_refused(
    log: SqlAuditLog, subject: str, reason: str, needle: str
) -> None:
    from llmops.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match=needle):
        await AuditTrail(log).erase(AUDITOR, subject, reason)


async def test_retention_shreds_old_days_of_one_event_type_only(log: SqlAuditLog) -> None:
    old = interaction(1).model_copy(update={"query": "old question", "occurred_at": T0 - timedelta(days=100)})
    recent = interaction(2).model_copy(update={"query": "recent question", "occurred_at": T0 - timedelta(days=5)})
    await append(log, old, recent)
    trail = AuditTrail(log)
    destroyed = await trail.apply_retention({InteractionCompleted.type: 30, "io.llmops.other.v1": 1}, T0)
    assert destroyed == 1
    readable = [json.loads(r.payload_json)["query"] for r in await log.reveal(await log.records(0, 2))]
    assert readable == ["[erased]", "recent question"]
