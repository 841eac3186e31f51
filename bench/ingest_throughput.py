"""Ingest → searchable: this platform vs a LangChain pipeline, same model, same Qdrant (local mode), one run.

Corpus: CPython's documentation topics (`pydoc_data.topics`), repeated as numbered editions until the
platform's chunker yields `--chunks` chunks (5,000 by default).

- LangChain: `RecursiveCharacterTextSplitter.from_huggingface_tokenizer` (the model's own tokenizer, the same
  200-token chunks and 32-token overlap as the platform), `HuggingFaceEmbeddings` over the same bundled
  all-MiniLM-L6-v2, `QdrantVectorStore.from_documents` into Qdrant local mode. Searchable when it returns.
- Platform: a real nats-server, `llmops serve ingestion` and `llmops serve embedding` as separate processes,
  documents sent over gRPC (4 in flight); searchable when `documents.v1.indexed` has announced every chunk.
  Run once with the embedding service's default precision (`auto`: bf16 on CPUs with AVX512-BF16) and
  once forced to fp32, so the pipeline's gain and the precision's gain are reported apart.

Update latency: one document changed and re-ingested, timed until the new version is searchable (platform:
its `documents.v1.indexed`; LangChain: old points deleted and new ones added, synchronously).

FLOP ceiling: the model's forward FLOPs per chunk (from its config and the chunks' mean token count) against
this machine's measured peak of a large matrix product (torch, all threads), in fp32 and bf16.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/ingest_throughput.py [--chunks 5000] [--updates 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import nats
from nats.aio.msg import Msg

from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.cli.sample import sample_documents
from llmops.cli.stack import health_check
from llmops.cli.uploads import DocumentSource, upload_all
from llmops.events import DocumentIndexed
from llmops.testing.servers import NatsServer, free_port
from services.embedding.adapters.sentence_model import bundled_model_path
from services.ingestion.adapters.tokenizer import WordPieceTokenizer, bundled_tokenizer_path
from services.ingestion.chunking import ChunkingPolicy, chunk
from services.ingestion.parsing import parse

CHUNK_TOKENS, OVERLAP_TOKENS = 200, 32


@dataclass(frozen=True)
class Doc:
    uri: str
    text: str


def corpus(target_chunks: int) -> tuple[list[Doc], int, float]:
    """Documents whose platform chunks reach `target_chunks`; also the chunk count and mean tokens per chunk."""
    tokenizer = WordPieceTokenizer(bundled_tokenizer_path())
    policy = ChunkingPolicy(max_tokens=CHUNK_TOKENS, overlap_tokens=OVERLAP_TOKENS)
    topics = list(sample_documents())
    docs: list[Doc] = []
    chunks = 0
    tokens = 0
    edition = 0
    while chunks < target_chunks:
        edition += 1
        for topic in topics:
            text = f"Edition {edition} of the Python reference.\n\n{topic.text}"
            pieces = chunk(parse(text.encode(), "text/plain", topic.source_uri), policy, tokenizer.count)
            docs.append(Doc(f"{topic.source_uri}?edition={edition}", text))
            chunks += len(pieces)
            tokens += sum(sum(tokenizer.count(p.text.split())) for p in pieces)
            if chunks >= target_chunks:
                break
    return docs, chunks, tokens / chunks + 2  # + [CLS] and [SEP]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- LangChain -----------------------------------------------------------------------------------------------


def run_langchain(docs: list[Doc], updates: int, directory: Path) -> dict[str, Any]:
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import AutoTokenizer

    model_path = bundled_model_path()
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        AutoTokenizer.from_pretrained(model_path), chunk_size=CHUNK_TOKENS, chunk_overlap=OVERLAP_TOKENS
    )
    embeddings = HuggingFaceEmbeddings(
        model_name=model_path, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
    )
    embeddings.embed_documents(["warm up"])
    started = time.perf_counter()
    split = splitter.create_documents([d.text for d in docs], metadatas=[{"source": d.uri} for d in docs])
    store = QdrantVectorStore.from_documents(
        split, embeddings, path=str(directory / "langchain-qdrant"), collection_name="bench"
    )
    elapsed = time.perf_counter() - started
    latencies = []
    for n in range(updates):
        doc = docs[n % len(docs)]
        old = store.client.scroll(
            "bench",
            scroll_filter=_source_filter(doc.uri),
            limit=10_000,
            with_payload=False,
        )[0]
        text = f"{doc.text}\n\nRevision {n}: this section was reviewed."
        t0 = time.perf_counter()
        store.delete([str(p.id) for p in old])
        store.add_documents(splitter.create_documents([text], metadatas=[{"source": doc.uri}]))
        latencies.append(time.perf_counter() - t0)
    store.client.close()
    return {"chunks": len(split), "seconds": elapsed, "chunks_per_s": len(split) / elapsed, "update_s": latencies}


def _source_filter(uri: str) -> Any:
    from qdrant_client import models

    return models.Filter(must=[models.FieldCondition(key="metadata.source", match=models.MatchValue(value=uri))])


# --- Platform ------------------------------------------------------------------------------------------------


class IndexedWatch:
    """Every `documents.v1.indexed` announcement, as (document, version) → chunks indexed so far."""

    def __init__(self) -> None:
        self.chunks: dict[tuple[str, int], int] = {}
        self.total = 0
        self.arrived: dict[tuple[str, int], float] = {}
        self._nc: nats.NATS | None = None

    async def start(self, url: str) -> None:
        self._nc = await nats.connect(url)

        async def collect(msg: Msg) -> None:
            event = DocumentIndexed.model_validate_json(msg.data)
            key = (event.document_id, event.version)
            self.chunks[key] = self.chunks.get(key, 0) + event.chunk_count
            self.total += event.chunk_count
            self.arrived[key] = time.perf_counter()

        await self._nc.subscribe(DocumentIndexed.subject, cb=collect)

    async def stop(self) -> None:
        if self._nc:
            await self._nc.close()


async def _until(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout_s} s")
        await asyncio.sleep(0.002)


def _spawn(service: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "llmops.cli.main", "serve", service],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


async def run_platform(docs: list[Doc], updates: int, directory: Path, precision: str) -> dict[str, Any]:
    ports = {"ingestion": free_port(), "embedding": free_port()}
    with NatsServer(directory / "nats") as server:
        env = {
            **os.environ,
            "LLMOPS_NATS_URL": server.url,
            "LLMOPS_DATA_DIR": str(directory),
            "LLMOPS_LOG_LEVEL": "WARNING",
            "LLMOPS_EMBEDDING_PRECISION": precision,
            "LLMOPS_INGESTION_GRPC__PORT": str(ports["ingestion"]),
            "LLMOPS_EMBEDDING_GRPC__PORT": str(ports["embedding"]),
            "HF_HUB_OFFLINE": "1",
        }
        processes = [_spawn(name, env, directory / f"{name}.log") for name in ports]
        watch = IndexedWatch()
        try:
            for port in ports.values():
                await _until(lambda port=port: health_check(f"127.0.0.1:{port}"), 180)
            await watch.start(server.url)
            address = f"127.0.0.1:{ports['ingestion']}"
            with grpc.insecure_channel(address) as channel:
                stub = ingestion_pb2_grpc.IngestionStub(channel)
                sources = [DocumentSource(d.uri, content=d.text.encode(), mime_type="text/plain") for d in docs]
                started = time.perf_counter()
                results = await asyncio.to_thread(upload_all, stub, sources, _header, parallel=4, on_done=_noop)
                errors = [r for r in results if "error" in r]
                if errors:
                    raise RuntimeError(f"{len(errors)} uploads failed, e.g. {errors[0]}")
                expected = sum(int(r.get("chunk_count", 0)) for r in results)
                await _until(lambda: watch.total >= expected, 3600)
                elapsed = time.perf_counter() - started
                latencies = []
                for n in range(updates):
                    doc = docs[n % len(docs)]
                    text = f"{doc.text}\n\nRevision {n}: this section was reviewed."
                    t0 = time.perf_counter()
                    response = stub.Ingest(
                        ingestion_pb2.IngestRequest(
                            header=ingestion_pb2.DocumentHeader(source_uri=doc.uri, mime_type="text/plain"),
                            content=text.encode(),
                        )
                    )
                    key = (response.document_id, response.version)
                    await _until(lambda key=key, n=response.chunk_count: watch.chunks.get(key, 0) >= n, 60)
                    latencies.append(watch.arrived[key] - t0)
                    docs[n % len(docs)] = Doc(doc.uri, text)
        finally:
            await watch.stop()
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                process.wait(30)
    return {"chunks": expected, "seconds": elapsed, "chunks_per_s": expected / elapsed, "update_s": latencies}


def _noop(_: dict[str, Any]) -> None:
    return


def _header(source: DocumentSource) -> ingestion_pb2.DocumentHeader:
    return ingestion_pb2.DocumentHeader(source_uri=source.source_uri, mime_type=source.mime_type)


# --- FLOP ceiling --------------------------------------------------------------------------------------------


def model_flops_per_chunk(tokens: float) -> float:
    """Forward FLOPs of all-MiniLM-L6-v2 for one sequence of `tokens` tokens (2 FLOPs per multiply-add)."""
    config = json.loads((Path(bundled_model_path()) / "config.json").read_text())
    d, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    per_token = 2 * layers * (4 * d * d + 2 * d * ff)  # Q, K, V, output projections and the two FFN matrices
    attention = 2 * layers * 2 * tokens * tokens * d  # Q·Kᵀ and attention·V
    return per_token * tokens + attention


def peak_matmul_flops(dtype_name: str, size: int = 2048, repeats: int = 10) -> float:
    """Measured FLOP/s of a large square matrix product on this machine, all torch threads."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    for _ in range(2):
        a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started)


# --- Report --------------------------------------------------------------------------------------------------


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), platform.processor())
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def rows(report: dict[str, Any]) -> Iterator[str]:
    lc = report["langchain"]
    yield "| pipeline | chunks | ingest→searchable s | chunks/s | × LangChain | update p50 ms | update p99 ms |"
    yield "|---|---|---|---|---|---|---|"
    for name, r in report["pipelines"].items():
        p50, p99 = percentile(r["update_s"], 50) * 1000, percentile(r["update_s"], 99) * 1000
        ratio = r["chunks_per_s"] / lc["chunks_per_s"]
        yield (
            f"| {name} | {r['chunks']} | {r['seconds']:.1f} | {r['chunks_per_s']:.1f} | {ratio:.2f} "
            f"| {p50:.0f} | {p99:.0f} |"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=5000)
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench/results/ingest_throughput.json"))
    options = parser.parse_args()
    docs, chunks, mean_tokens = corpus(options.chunks)
    print(f"corpus: {len(docs)} documents, {chunks} platform chunks, {mean_tokens:.0f} tokens per chunk")
    pipelines: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pipelines["LangChain (fp32)"] = await asyncio.to_thread(run_langchain, list(docs), options.updates, root)
        print("LangChain done", f"{pipelines['LangChain (fp32)']['chunks_per_s']:.1f} chunks/s")
        for precision in ("auto", "fp32"):
            name = f"llmops (precision={precision})"
            pipelines[name] = await run_platform(list(docs), options.updates, root / precision, precision)
            print(name, "done", f"{pipelines[name]['chunks_per_s']:.1f} chunks/s")
    flops = model_flops_per_chunk(mean_tokens)
    peaks = {name: peak_matmul_flops(name) for name in ("fp32", "bf16")}
    report: dict[str, Any] = {
        "machine": machine(),
        "command": "python bench/ingest_throughput.py " + " ".join(sys.argv[1:]),
        "documents": len(docs),
        "mean_tokens_per_chunk": round(mean_tokens, 1),
        "model_gflop_per_chunk": round(flops / 1e9, 2),
        "peak_gflops": {k: round(v / 1e9, 1) for k, v in peaks.items()},
        "ceiling_chunks_per_s": {k: round(v / flops, 1) for k, v in peaks.items()},
        "langchain": pipelines["LangChain (fp32)"],
        "pipelines": pipelines,
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(report, indent=2))
    print(f"\n{report['machine']}\n")
    for line in rows(report):
        print(line)
    print(
        f"\nmodel: {report['model_gflop_per_chunk']} GFLOP per {mean_tokens:.0f}-token chunk; measured matmul peak "
        f"{report['peak_gflops']['fp32']} GFLOP/s fp32, {report['peak_gflops']['bf16']} GFLOP/s bf16 → ceiling "
        f"{report['ceiling_chunks_per_s']['fp32']} / {report['ceiling_chunks_per_s']['bf16']} chunks/s"
    )
    for name, r in pipelines.items():
        ceiling = report["ceiling_chunks_per_s"]["bf16" if "auto" in name else "fp32"]
        print(f"{name}: {r['chunks_per_s'] / ceiling:.0%} of its precision's ceiling")


if __name__ == "__main__":
    asyncio.run(main())
