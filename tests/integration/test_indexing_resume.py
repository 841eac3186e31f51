"""A crash between "chunked" and "indexed" resumes on restart and leaves exactly one point per chunk.

The embedding service runs as its own process on a real nats-server with the real model and Qdrant local
mode. It is SIGKILLed as soon as the first document is announced as indexed, while later chunk events are
fetched but not acknowledged; a second process picks up the redelivered events and finishes the job.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from qdrant_client import models

from llmops import ids
from llmops.bus import Bus, stream_for
from llmops.events import DocumentChunked, DocumentIndexed, utcnow
from llmops.testing.servers import NatsServer, free_port
from llmops.vectorstore import ChunkIndex, close_qdrant, open_qdrant
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.core import DocumentHeader, Limits, plan_version

pytestmark = pytest.mark.integration

DOCUMENTS = 12
TOPICS = ["tides", "glaciers", "volcanoes", "monsoons", "deserts", "coral reefs", "rivers", "caves"]


def document_text(n: int) -> bytes:
    """A few hundred words per document, so each yields several chunks."""
    paragraphs = [
        f"Section {p} of field report {n}. The survey team studied {TOPICS[(n + p) % len(TOPICS)]} "
        f"near station {n * 10 + p}, recording temperature, salinity and sediment every hour. " * 6
        for p in range(6)
    ]
    return ("\n\n".join(paragraphs)).encode()


def spawn_embedding(nats_url: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LLMOPS_NATS_URL": nats_url,
        "LLMOPS_DATA_DIR": str(data_dir),
        "LLMOPS_EMBEDDING_GRPC__PORT": str(free_port()),
        "LLMOPS_EMBEDDING_CONCURRENT_EVENTS": "2",
        "HF_HUB_OFFLINE": "1",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "llmops.cli.main", "serve", "embedding"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


class IndexedWatch:
    """Documents announced on `documents.v1.indexed`, collected from before the first indexer starts."""

    def __init__(self) -> None:
        self.documents: set[str] = set()
        self._nc: nats.NATS | None = None

    async def start(self, nats_url: str) -> None:
        self._nc = await nats.connect(nats_url)

        async def collect(msg: Msg) -> None:
            self.documents.add(DocumentIndexed.model_validate_json(msg.data).document_id)

        await self._nc.subscribe(DocumentIndexed.subject, cb=collect)

    async def wait(self, want: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.documents) < want:
            if process.poll() is not None:
                raise AssertionError(f"embedding exited with {process.returncode} before indexing {want} documents")
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.documents)} of {want} documents indexed within {timeout_s}s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._nc is not None:
            await self._nc.close()


async def ack_pending(nats_url: str) -> int:
    """Chunk events the indexer fetched but never acknowledged: JetStream will deliver them again."""
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(stream_for(DocumentChunked.subject), "embedding-indexer")
        return info.num_ack_pending or 0
    finally:
        await nc.close()


def kill(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    os.killpg(process.pid, sig)
    process.wait(30)


async def test_a_killed_indexer_resumes_without_duplicate_or_missing_points(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "nats") as server:
        bus = Bus(server.url, "test/ingestion")
        await bus.start()
        expected: dict[str, set[str]] = {}
        try:
            for n in range(DOCUMENTS):
                plan = plan_version(
                    tenant="acme",
                    user="loader",
                    header=DocumentHeader(source_uri=f"kb://reports/{n}.txt"),
                    content=document_text(n),
                    latest=None,
                    limits=Limits(),
                    policy=ChunkingPolicy(max_words=60, overlap_words=10),
                )
                assert plan is not None
                expected[plan.document_id] = {ids.chunk_id(plan.document_id, 1, c.index) for c in plan.chunks}
                await bus.publish_all(plan.chunked_events(utcnow()))
        finally:
            await bus.stop()
        assert sum(len(c) for c in expected.values()) > DOCUMENTS * 3

        watch = IndexedWatch()
        await watch.start(server.url)
        try:
            first = spawn_embedding(server.url, tmp_path, tmp_path / "embedding-1.log")
            try:
                await watch.wait(1, first, timeout_s=180)
            finally:
                kill(first, signal.SIGKILL)  # no graceful stop: fetched events stay unacknowledged
            unacked = await ack_pending(server.url)
            assert unacked > 0, "the kill landed after every event was acknowledged; nothing was left to resume"

            second = spawn_embedding(server.url, tmp_path, tmp_path / "embedding-2.log")
            try:
                await watch.wait(DOCUMENTS, second, timeout_s=240)
            finally:
                kill(second, signal.SIGTERM)
        finally:
            await watch.stop()
        indexed = watch.documents
        assert indexed == set(expected)

    client = open_qdrant(None, tmp_path / "qdrant")
    try:
        index = ChunkIndex(client, 384)
        assert await index.count() == sum(len(c) for c in expected.values())
        for document_id, chunk_ids in expected.items():
            points, _ = await client.scroll(
                index.collection,
                scroll_filter=models.Filter(
                    must=[models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))]
                ),
                limit=10_000,
                with_payload=["chunk_index"],
            )
            assert {str(p.id) for p in points} == chunk_ids, "points differ from the document's chunks"
            assert len(points) == len(chunk_ids)
    finally:
        await close_qdrant()
