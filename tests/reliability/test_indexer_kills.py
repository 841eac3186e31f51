"""The embedding worker SIGKILLed five times while it indexes 10,000 chunks: afterwards Qdrant holds exactly one
point per chunk, and the kills left fetched-but-unacknowledged events that JetStream delivered again.

Real nats-server, the real embedding model and Qdrant local mode; the worker is `llmops serve embedding` in its own
process (as in tests/integration/test_indexing_resume.py, whose helpers this reuses).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from qdrant_client import models

from llmops import ids
from llmops.bus import Bus
from llmops.events import utcnow
from llmops.testing.servers import NatsServer
from llmops.vectorstore import ChunkIndex, close_qdrant, open_qdrant
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.core import DocumentHeader, Limits, plan_version
from tests.integration.test_indexing_resume import IndexedWatch, ack_pending, kill, spawn_embedding

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

CHUNKS = 10_000
DOCUMENTS = 100
KILLS = 5
WORDS = ["tide", "glacier", "volcano", "monsoon", "desert", "reef", "river", "cave", "delta", "fjord", "dune", "mesa"]


def report(n: int) -> bytes:
    """A field report of `CHUNKS // DOCUMENTS` paragraphs, each its own chunk under the policy below."""
    paragraphs = [
        f"Report {n}, entry {p}: the {WORDS[(n + p) % len(WORDS)]} survey logged readings at station {n}-{p} "
        f"and noted {WORDS[(n * 7 + p) % len(WORDS)]} conditions."
        for p in range(CHUNKS // DOCUMENTS)
    ]
    return "\n\n".join(paragraphs).encode()


async def test_five_kills_while_indexing_ten_thousand_chunks_leave_exactly_one_point_per_chunk(tmp_path: Path) -> None:
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
                    content=report(n),
                    latest=None,
                    limits=Limits(),
                    policy=ChunkingPolicy(max_words=16, overlap_words=0),
                )
                assert plan is not None
                expected[plan.document_id] = {ids.chunk_id(plan.document_id, 1, c.index) for c in plan.chunks}
                await bus.publish_all(plan.chunked_events(utcnow()))
        finally:
            await bus.stop()
        total = sum(len(c) for c in expected.values())
        assert total == CHUNKS

        watch = IndexedWatch()
        await watch.start(server.url)
        unacked_at_kills: list[int] = []
        try:
            for k in range(1, KILLS + 1):
                worker = spawn_embedding(server.url, tmp_path, tmp_path / f"embedding-{k}.log")
                try:
                    # Kill at evenly spaced points of progress, so every run does some work before it dies.
                    await watch.wait(k * DOCUMENTS // (KILLS + 1), worker, timeout_s=300)
                finally:
                    kill(worker, signal.SIGKILL)
                unacked_at_kills.append(await ack_pending(server.url))
            last = spawn_embedding(server.url, tmp_path, tmp_path / "embedding-last.log")
            try:
                await watch.wait(DOCUMENTS, last, timeout_s=600)
            finally:
                kill(last, signal.SIGTERM)
        finally:
            await watch.stop()
        assert watch.documents == set(expected)
        # Evidence that kills interrupted work in flight: events fetched and not acknowledged, delivered again.
        assert sum(unacked_at_kills) > 0, f"no kill left unacknowledged events: {unacked_at_kills}"

    client = open_qdrant(None, tmp_path / "qdrant")
    try:
        index = ChunkIndex(client, 384)
        assert await index.count() == CHUNKS
        seen: set[str] = set()
        offset = None
        while True:
            points, offset = await client.scroll(
                index.collection, limit=1_000, offset=offset, with_payload=["document_id"]
            )
            seen.update(str(p.id) for p in points)
            if offset is None:
                break
        assert seen == set().union(*expected.values())
        for document_id, chunk_ids in list(expected.items())[:5]:
            points, _ = await client.scroll(
                index.collection,
                scroll_filter=models.Filter(
                    must=[models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))]
                ),
                limit=1_000,
            )
            assert {str(p.id) for p in points} == chunk_ids
    finally:
        await close_qdrant()
