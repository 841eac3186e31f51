"""The audit service end to end on a real nats-server: events in over JetStream, records out over gRPC."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import nats
import pytest

from llmops import merkle
from llmops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from llmops.api.common.v1 import common_pb2
from llmops.audit_verify import SignedHeadView, entry_leaf_hash, verify_export, verify_extension
from llmops.auth import TENANT_HEADER, USER_HEADER
from llmops.bus import Bus, cloudevent_headers
from llmops.events import DocumentDeleted, InteractionCompleted, Usage
from llmops.settings import CommonSettings, GrpcSettings
from llmops.testing import free_port
from llmops.tree_head import TreeHead
from services.audit.__main__ import main
from services.audit.app import QUERIED
from services.audit.config import Settings

pytestmark = pytest.mark.integration

WAIT_S = 20.0


@dataclass
class RunningAudit:
    """The audit service under test, a stub to query it and a bus to publish with."""

    stub: audit_pb2_grpc.AuditStub
    bus: Bus
    nats_url: str
    task: asyncio.Task[None]

    async def records(self, **fields: object) -> list[audit_pb2.AuditRecord]:
        """Matching platform events (the records every query leaves in the log are left out)."""
        response = await self.stub.Query(audit_pb2.QueryRequest(**fields), timeout=5)  # type: ignore[arg-type]
        return [r for r in response.records if r.event_type != QUERIED]


def interaction(interaction_id: str) -> InteractionCompleted:
    return InteractionCompleted(
        tenant="acme", interaction_id=interaction_id, user="ann", query="q", answer="a", citations=[], model="m",
        prompt_name="p", prompt_version=1, usage=Usage(), retrieve_ms=1, generate_ms=2, total_ms=3,
    )  # fmt: skip


def deleted(document_id: str) -> DocumentDeleted:
    return DocumentDeleted(tenant="acme", document_id=document_id, version=1, deleted_by="bob")


async def eventually(condition: Callable[[], Awaitable[bool]], service: asyncio.Task[None] | None = None) -> None:
    """Polls a condition; bounded so a lost event fails the test instead of hanging it."""
    async with asyncio.timeout(WAIT_S):
        while not await condition():
            if service is not None and service.done():
                service.result()  # surfaces the service's crash instead of a timeout
                raise AssertionError("the audit service stopped")
            await asyncio.sleep(0.1)


async def stream_messages(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


async def fully_acked(url: str, stream: str, durable: str) -> bool:
    """Every message of the stream handed to the consumer and acked, i.e. its handler has returned."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)
    finally:
        await nc.close()


@pytest.fixture
async def audit(nats_url: str, tmp_path: Path) -> AsyncIterator[RunningAudit]:
    settings = Settings(
        common=CommonSettings(nats_url=nats_url, data_dir=tmp_path, max_deliver=3, log_format="console"),
        grpc=GrpcSettings(port=free_port(), grace_s=0.5),
    )
    stop = asyncio.Event()

    async def stopped() -> None:
        await stop.wait()

    task = asyncio.create_task(main(settings, stopped=stopped()))
    bus = Bus(nats_url, "tests")
    await bus.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{settings.grpc.port}")
    running = RunningAudit(audit_pb2_grpc.AuditStub(channel), bus, nats_url, task)

    async def serving() -> bool:
        try:
            await running.records()
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            return False
        return True

    try:
        await eventually(serving, task)
        yield running
    finally:
        stop.set()
        await channel.close()
        await bus.stop()
        await asyncio.wait_for(task, WAIT_S)


async def test_each_event_is_recorded_exactly_once_and_found_by_its_interaction(audit: RunningAudit) -> None:
    """A re-publish that JetStream stores again (same ce-id, new message id) still makes one record."""
    asked, gone = interaction("i-1"), deleted("d-1")
    await audit.bus.publish(asked)
    await audit.bus.publish(gone)
    await audit.bus.publish(asked)  # dropped by JetStream's duplicate window
    # As after the duplicate window: JetStream keeps the copy, so only the audit log's dedupe stands in the way.
    headers = {**cloudevent_headers(asked, "tests"), "Nats-Msg-Id": "republished-later"}
    body = asked.model_dump_json().encode()
    await audit.bus.broker.publish(body, asked.subject, headers=headers, stream="INTERACTIONS")
    assert await stream_messages(audit.nats_url, "INTERACTIONS") == 2

    async def all_handled() -> bool:
        return await fully_acked(audit.nats_url, "INTERACTIONS", "audit-interactions") and await fully_acked(
            audit.nats_url, "DOCUMENTS", "audit-documents"
        )

    await eventually(all_handled, audit.task)
    records = await audit.records()
    assert sorted((r.event_id, r.event_type) for r in records) == sorted(
        [(asked.event_id, InteractionCompleted.type), (gone.event_id, DocumentDeleted.type)]
    )
    assert len({r.sequence for r in records}) == 2

    (found,) = await audit.records(interaction_id="i-1")
    assert (found.subject, found.source, found.tenant, found.event_id) == (
        "interactions.v1.completed", "tests", "acme", asked.event_id,
    )  # fmt: skip
    assert InteractionCompleted.model_validate_json(found.payload_json) == asked
    (by_user,) = await audit.records(user="bob", event_types=[DocumentDeleted.type])
    assert by_user.document_id == "d-1"


async def test_a_malformed_event_is_dead_lettered_while_later_events_are_still_recorded(audit: RunningAudit) -> None:
    """Bad JSON with valid CloudEvents headers goes to deadletter.<subject>; the consumer keeps going."""
    headers = {"ce-id": "bad-1", "ce-type": DocumentDeleted.type, "Nats-Msg-Id": "bad-1"}
    await audit.bus.broker.publish(b"{bad", "documents.v1.deleted", headers=headers, stream="DOCUMENTS")
    await audit.bus.publish(deleted("d-after"))

    async def dead_lettered() -> bool:
        return await stream_messages(audit.nats_url, "DEADLETTER") == 1

    async def good_one_recorded() -> bool:
        return [r.document_id for r in await audit.records(document_id="d-after")] == ["d-after"]

    await eventually(dead_lettered, audit.task)
    await eventually(good_one_recorded, audit.task)
    nc = await nats.connect(audit.nats_url)
    try:
        message = await nc.jetstream().get_last_msg("DEADLETTER", "deadletter.documents.v1.deleted")
        assert message.headers is not None
        assert message.headers["llmops-dlq-consumer"] == "audit-documents"
        assert message.headers["llmops-dlq-reason"].startswith("undecodable:")
    finally:
        await nc.close()
    assert [r.event_id for r in await audit.records()] == [deleted("d-after").event_id]


@pytest.mark.parametrize(
    ("page", "needle"),
    [
        (common_pb2.PageRequest(page_size=1001), "page.page_size must be between 1 and 1000"),
        (common_pb2.PageRequest(page_size=-5), "page.page_size"),
        (common_pb2.PageRequest(page_token="not-a-token"), "page.page_token 'not-a-token' is not one"),
    ],
)
async def test_bad_pages_are_invalid_arguments_that_name_the_field(
    audit: RunningAudit, page: common_pb2.PageRequest, needle: str
) -> None:
    """The caller learns which field to fix, not a bare UNKNOWN."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await audit.stub.Query(audit_pb2.QueryRequest(page=page), timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in (refused.value.details() or "")


async def test_heads_proofs_and_an_export_verify_without_trusting_the_service(audit: RunningAudit) -> None:
    """A client pins the key from a first head, then checks an export, an inclusion and a consistency proof."""
    for n in range(5):
        await audit.bus.publish(interaction(f"i-{n}"))

    async def recorded() -> bool:
        return len(await audit.records(event_types=[InteractionCompleted.type])) == 5

    await eventually(recorded, audit.task)
    first = await audit.stub.GetTreeHead(audit_pb2.GetTreeHeadRequest(), timeout=5)
    pinned = first.public_key
    chunks = [c async for c in audit.stub.Export(audit_pb2.ExportRequest(), timeout=10)]
    lines = b"".join(c.jsonl for c in chunks).decode().splitlines()
    report = verify_export(lines, pinned)
    assert report.complete and chunks[-1].records == report.records

    exported_head = SignedHeadView.from_json(json.loads(lines[0])["tree_head"])
    (target,) = await audit.records(interaction_id="i-3")
    proof = await audit.stub.GetInclusionProof(
        audit_pb2.GetInclusionProofRequest(sequence=target.sequence, tree_size=exported_head.head.tree_size), timeout=5
    )
    entry = next(json.loads(line)["entry"] for line in lines[1:] if json.loads(line)["leaf_index"] == target.sequence)
    merkle.verify_inclusion(
        entry_leaf_hash(entry), target.sequence, proof.tree_size, list(proof.path), exported_head.head.root_hash
    )
    earlier = SignedHeadView(TreeHead(first.tree_size, first.root_hash, first.timestamp.ToMilliseconds()),
                             first.signature, first.public_key)  # fmt: skip
    consistency = await audit.stub.GetConsistencyProof(
        audit_pb2.GetConsistencyProofRequest(first_size=first.tree_size, second_size=exported_head.head.tree_size),
        timeout=5,
    )
    verify_extension(earlier, exported_head, list(consistency.path), pinned)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda stub: stub.GetTreeHead(audit_pb2.GetTreeHeadRequest(tree_size=10_000), timeout=5), "no tree head"),
        (lambda stub: stub.GetTreeHead(audit_pb2.GetTreeHeadRequest(tree_size=-1), timeout=5), "tree_size"),
        (lambda stub: stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(sequence=99), timeout=5), "sequence"),
        (lambda stub: stub.GetConsistencyProof(audit_pb2.GetConsistencyProofRequest(first_size=0), timeout=5),
         "first_size"),
    ],
)  # fmt: skip
async def test_bad_proof_requests_name_the_field(
    audit: RunningAudit, call: Callable[[audit_pb2_grpc.AuditStub], Awaitable[object]], needle: str
) -> None:
    await audit.records()  # the query's own record gives the log a first head
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(audit.stub)
    assert refused.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert needle in (refused.value.details() or "")


async def test_erase_over_grpc_shreds_a_subject_and_refuses_an_empty_one(audit: RunningAudit) -> None:
    await audit.bus.publish(interaction("i-erase"))

    async def recorded() -> bool:
        return bool(await audit.records(interaction_id="i-erase"))

    await eventually(recorded, audit.task)
    acme = [(TENANT_HEADER, "acme"), (USER_HEADER, "dpo")]
    elsewhere = await audit.stub.Erase(audit_pb2.EraseRequest(data_subject="ann", reason="t"), timeout=5)
    assert elsewhere.keys_destroyed == 0  # the caller's tenant (the default one) holds nothing of ann's
    erased = await audit.stub.Erase(
        audit_pb2.EraseRequest(data_subject="ann", reason="ticket 12"), metadata=acme, timeout=5
    )
    assert erased.keys_destroyed == 1
    (record,) = await audit.records(interaction_id="i-erase")
    assert json.loads(record.payload_json)["query"] == "[erased]"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await audit.stub.Erase(audit_pb2.EraseRequest(data_subject="", reason="x"), timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
