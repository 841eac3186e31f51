"""Faults in the running platform: the `llmops dev` stack (real NATS, Triton, Qdrant local, the embedding model),
with parts of it stopped or killed while it works. Each test is bounded and leaves the stack serving.

- Triton stopped: `Ask` fails with UNAVAILABLE within its deadline, and answers again once Triton is back.
- The audit service SIGKILLed while events flow: after a restart the log holds every event once, without a gap
  or a fork, and `llmops audit verify` accepts the whole log.
- Rebuild: the vector collection dropped and the document stream replayed gives back the same point ids and
  payloads.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import nats
import nats.js.errors
import pytest
from qdrant_client import QdrantClient

from llmops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from llmops.api.common.v1 import common_pb2
from llmops.api.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.auth import TENANT_HEADER, USER_HEADER
from llmops.bus import Bus
from llmops.cli.stack import Stack, StackPorts
from llmops.events import DriftAlert
from llmops.vectorstore import COLLECTION
from tests.e2e.test_platform import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

TENANT = "faults"
WHO = [(TENANT_HEADER, TENANT), (USER_HEADER, "fay")]
DOCUMENTS = {
    "kb://faults/boiler.md": b"# Boiler\n\nThe boiler room key hangs in the caretaker's office on the ground floor.\n",
    "kb://faults/bikes.md": b"# Bikes\n\nBicycles are parked in the courtyard shelter behind building C.\n",
    "kb://faults/mail.md": b"# Mail\n\nIncoming parcels are collected at the front desk until six in the evening.\n",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("faults"), model="extractive", ports=StackPorts.free()) as running:
        yield running


@pytest.fixture(scope="module")
def ingested(stack: Stack) -> dict[str, str]:
    ingestion = ingestion_pb2_grpc.IngestionStub(grpc.insecure_channel(stack.endpoints.grpc["ingestion"]))
    ids = {}
    for uri, content in DOCUMENTS.items():
        header = ingestion_pb2.DocumentHeader(source_uri=uri)
        ids[uri] = ingestion.Ingest(
            ingestion_pb2.IngestRequest(header=header, content=content), metadata=WHO
        ).document_id

    def indexed() -> bool | None:
        stages = [
            ingestion.GetDocument(ingestion_pb2.GetDocumentRequest(document_id=i), metadata=WHO).versions[-1].stage
            for i in ids.values()
        ]
        return True if all(s == ingestion_pb2.PIPELINE_STAGE_INDEXED for s in stages) else None

    eventually(indexed, timeout_s=120)
    return ids


def ask(stack: Stack, query: str, timeout_s: float = 30.0) -> gateway_pb2.AskResponse:
    assistant = gateway_pb2_grpc.AssistantStub(grpc.insecure_channel(stack.endpoints.grpc["gateway"]))
    reply: gateway_pb2.AskResponse = assistant.Ask(
        gateway_pb2.AskRequest(query=query, bypass_cache=True), metadata=WHO, timeout=timeout_s
    )
    return reply


def test_with_triton_stopped_ask_is_unavailable_within_its_deadline_and_recovers(
    stack: Stack, ingested: dict[str, str]
) -> None:
    question = "Where does the boiler room key hang?"
    assert "caretaker" in ask(stack, question).answer
    assert stack.triton is not None
    stack.triton.stop()
    try:
        deadline_s = 20.0
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as error:
            ask(stack, question, timeout_s=deadline_s)
        elapsed = time.monotonic() - started
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE, error.value.details()
        assert elapsed < deadline_s  # refused, not left to run out the caller's deadline
        assert "model" in (error.value.details() or "").lower() or "triton" in (error.value.details() or "").lower()
    finally:
        stack.triton.start()

    def answers() -> gateway_pb2.AskResponse | None:
        try:
            reply = ask(stack, question)
        except grpc.RpcError:
            return None  # the circuit breaker may still be open for a moment
        return reply if "caretaker" in reply.answer else None

    eventually(answers, timeout_s=60, interval_s=1.0)


def audit_records(stack: Stack, event_type: str) -> list[audit_pb2.AuditRecord]:
    audit = audit_pb2_grpc.AuditStub(grpc.insecure_channel(stack.endpoints.grpc["audit"]))
    records: list[audit_pb2.AuditRecord] = []
    token = ""
    while True:
        page = audit.Query(
            audit_pb2.QueryRequest(
                tenant=TENANT, event_types=[event_type], page=common_pb2.PageRequest(page_size=500, page_token=token)
            ),
            timeout=30,
        )
        records.extend(page.records)
        if not page.next_page_token:
            return records
        token = page.next_page_token


def publish_alerts(nats_url: str, first: int, count: int) -> None:
    """`count` drift alerts of the test tenant, published and stored (acknowledged) on the bus."""

    async def run() -> None:
        bus = Bus(nats_url, "llmops/fault-test")
        await bus.start()
        try:
            for start in range(first, first + count, 100):
                await bus.publish_all(
                    DriftAlert(tenant=TENANT, alert_id=f"fault-{n}", detector="test", statistic=1.0, threshold=0.5)
                    for n in range(start, min(start + 100, first + count))
                )
        finally:
            await bus.stop()

    asyncio.run(run())


def test_the_audit_log_killed_mid_stream_continues_without_a_gap_or_a_fork_and_verifies(stack: Stack) -> None:
    """1,500 events while the audit service is SIGKILLed after the first 500 and restarted: every event is in
    the log exactly once, positions run without a gap, and the whole log verifies against its signed head."""
    publish_alerts(stack.endpoints.nats, 0, 500)
    eventually(lambda: len(audit_records(stack, DriftAlert.type)) > 0 or None, timeout_s=60)
    stack.kill("audit")  # mid-stream: some of the first 500 are still being consumed
    publish_alerts(stack.endpoints.nats, 500, 1000)  # the bus keeps them while audit is down
    stack.restart("audit")

    def complete() -> list[audit_pb2.AuditRecord] | None:
        found = audit_records(stack, DriftAlert.type)
        return found if len(found) >= 1500 else None

    records = eventually(complete, timeout_s=120, interval_s=1.0)
    ids = [r.event_id for r in records]
    assert len(ids) == len(set(ids)) == 1500  # each event once: redeliveries after the kill were deduplicated
    sequences = sorted(r.sequence for r in records)
    assert sequences == sorted(set(sequences))
    env = {**os.environ, "LLMOPS_AUDIT_URL": stack.endpoints.grpc["audit"]}
    verified = subprocess.run(
        [sys.executable, "-m", "llmops.cli.main", "audit", "verify"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr + verified.stdout


def points(qdrant_path: Path) -> dict[str, dict[str, object]]:
    client = QdrantClient(path=str(qdrant_path))
    try:
        found: dict[str, dict[str, object]] = {}
        offset = None
        while True:
            batch, offset = client.scroll(COLLECTION, limit=256, offset=offset, with_payload=True)
            found.update({str(p.id): dict(p.payload or {}) for p in batch})
            if offset is None:
                return found
    finally:
        client.close()


def drop_collection(qdrant_path: Path) -> None:
    client = QdrantClient(path=str(qdrant_path))
    try:
        client.delete_collection(COLLECTION)
    finally:
        client.close()


def forget_consumers(nats_url: str, names: list[str]) -> None:
    """Deletes durable consumers, so the service recreates them and they deliver the stream from its start."""

    async def run() -> None:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            for name in names:
                await js.delete_consumer("DOCUMENTS", name)
        finally:
            await nc.close()

    asyncio.run(run())


def replayed(nats_url: str, consumer: str) -> bool:
    """Whether a durable consumer has delivered and had acknowledged every message of the stream."""

    async def run() -> bool:
        nc = await nats.connect(nats_url)
        try:
            info = await nc.jetstream().consumer_info("DOCUMENTS", consumer)
        except nats.js.errors.NotFoundError:
            return False
        finally:
            await nc.close()
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0

    return asyncio.run(run())


def test_dropping_the_vectors_and_replaying_the_document_stream_rebuilds_the_same_points(
    stack: Stack, ingested: dict[str, str]
) -> None:
    qdrant_path = stack.data_dir / "qdrant"
    stack.kill("embedding+retrieval")  # Qdrant local mode: one process per storage path
    before = points(qdrant_path)
    assert before and {p["document_id"] for p in before.values()} >= set(ingested.values())
    drop_collection(qdrant_path)
    forget_consumers(stack.endpoints.nats, ["embedding-indexer", "embedding-deleter"])
    stack.restart("embedding+retrieval")
    eventually(lambda: replayed(stack.endpoints.nats, "embedding-indexer") or None, timeout_s=180, interval_s=1.0)
    stack.kill("embedding+retrieval")  # read the store while no process holds it
    try:
        after = points(qdrant_path)
    finally:
        stack.restart("embedding+retrieval")
    assert after.keys() == before.keys()
    assert after == before
    assert "caretaker" in ask(stack, "Where does the boiler room key hang?").answer


def test_nats_killed_during_ingestion_loses_no_acknowledged_document(stack: Stack) -> None:
    """60 documents ingested one after another; nats-server is SIGKILLed after the 20th and restarted on its
    store two seconds later. Every document whose Ingest returned OK is indexed in the end; the ones refused
    during the outage got UNAVAILABLE (retryable), and ingestion works again after the restart."""
    tenant = [(TENANT_HEADER, "faults-nats"), (USER_HEADER, "noa")]
    ingestion = ingestion_pb2_grpc.IngestionStub(grpc.insecure_channel(stack.endpoints.grpc["ingestion"]))
    acknowledged: dict[int, str] = {}
    refused: dict[int, grpc.StatusCode] = {}
    assert stack.nats is not None and stack.nats.process is not None
    restart_at = float("inf")
    for n in range(60):
        if n == 20:
            stack.nats.process.kill()  # SIGKILL: no flush, no goodbye to clients
            stack.nats.process.wait(10)
            restart_at = time.monotonic() + 2.0
        if n > 20 and stack.nats.process.poll() is not None and time.monotonic() >= restart_at:
            stack.nats.start()
        header = ingestion_pb2.DocumentHeader(source_uri=f"kb://faults-nats/{n}.md")
        content = f"# Note {n}\n\nThe note number {n} is about shelf {n * 3} in the archive.\n".encode()
        try:
            reply = ingestion.Ingest(
                ingestion_pb2.IngestRequest(header=header, content=content), metadata=tenant, timeout=15
            )
        except grpc.RpcError as exc:
            refused[n] = exc.code()
            time.sleep(0.2)
            continue
        acknowledged[n] = reply.document_id
    if stack.nats.process.poll() is not None:  # the loop ended before the restart time came
        stack.nats.start()
    assert len(acknowledged) >= 40  # a few refused while the server was down, no more
    assert set(refused.values()) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
    assert max(acknowledged) > 20  # ingestion works again after the restart

    def all_indexed() -> bool | None:
        stages = [
            ingestion.GetDocument(ingestion_pb2.GetDocumentRequest(document_id=d), metadata=tenant, timeout=15)
            .versions[-1].stage
            for d in acknowledged.values()
        ]  # fmt: skip
        return True if all(s == ingestion_pb2.PIPELINE_STAGE_INDEXED for s in stages) else None

    eventually(all_indexed, timeout_s=240, interval_s=1.0)
