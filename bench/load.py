"""Bounded load on the whole `llmops dev` stack: an ingestion flood, then concurrent `Ask` clients for minutes.

The stack is the one `llmops dev` runs (every service its own process, real NATS, Triton with the deterministic
extractive model, Qdrant local mode, the embedding model). Two phases:

1. Flood: `--documents` small documents sent with `--ingest-parallel` calls in flight; reported: accepted per
   second, and the time until every one is indexed (searchable).
2. Asks: `--clients` concurrent clients ask questions about the flooded documents for `--minutes`; reported per
   minute: calls, errors (by status), latency p50/p95/p99; and the resident memory (RSS) of every process of
   the stack sampled every `--sample-s` seconds over both phases, to show whether it stays flat.

Pass criteria printed at the end: no errors in the Ask phase, every document indexed, and RSS growth of each
process over the Ask phase (last sample / first sample of the phase) reported against 1.2×.

    .venv/bin/python -m bench.load [--documents 10000] [--clients 8] [--minutes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from llmops.api.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.auth import TENANT_HEADER, USER_HEADER
from llmops.cli.stack import Stack, StackPorts

TENANT = [(TENANT_HEADER, "load"), (USER_HEADER, "loader")]
ITEMS = ["stapler", "projector", "ladder", "kettle", "router", "scanner", "whiteboard", "drill", "tent", "camera"]
PLACES = ["basement", "attic", "lobby", "garage", "library", "canteen", "workshop", "studio", "archive", "roof"]


def document(n: int) -> tuple[str, bytes]:
    item, place = ITEMS[n % len(ITEMS)], PLACES[(n // len(ITEMS)) % len(PLACES)]
    text = f"# Inventory {n}\n\nThe {item} with tag {n} is kept in the {place}, on shelf {n % 97}.\n"
    return f"kb://load/{n}.md", text.encode()


def question(n: int) -> str:
    return f"Where is the {ITEMS[n % len(ITEMS)]} with tag {n} kept?"


def rss_mib(pid: int) -> float:
    """Resident set size of a process and its children (the process group a stack process leads), in MiB."""
    total_kib = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pid and int(entry.name) != pid:  # field 5: process group id
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total_kib / 1024


@dataclass
class Samples:
    """RSS over time per process: (seconds since start, phase, MiB)."""

    started: float = field(default_factory=time.monotonic)
    rows: dict[str, list[tuple[float, str, float]]] = field(default_factory=lambda: defaultdict(list))

    def take(self, stack: Stack, phase: str) -> None:
        at = time.monotonic() - self.started
        for name, process in stack.processes.items():
            self.rows[name].append((at, phase, rss_mib(process.pid)))


async def sample_forever(samples: Samples, stack: Stack, phase: list[str], every_s: float) -> None:
    while True:
        samples.take(stack, phase[0])
        await asyncio.sleep(every_s)


async def flood(stack: Stack, documents: int, parallel: int) -> tuple[float, list[str], Counter[str]]:
    """Sends every document; returns (seconds, accepted document ids, refusals by status)."""
    queue = list(range(documents))
    accepted: list[str] = []
    refused: Counter[str] = Counter()
    started = time.monotonic()
    async with grpc.aio.insecure_channel(stack.endpoints.grpc["ingestion"]) as channel:
        stub = ingestion_pb2_grpc.IngestionStub(channel)

        async def worker() -> None:
            while queue:
                uri, content = document(queue.pop())
                request = ingestion_pb2.IngestRequest(
                    header=ingestion_pb2.DocumentHeader(source_uri=uri), content=content
                )
                try:
                    reply = await stub.Ingest(request, metadata=TENANT, timeout=60)
                except grpc.aio.AioRpcError as exc:
                    refused[exc.code().name] += 1
                    continue
                accepted.append(reply.document_id)

        await asyncio.gather(*(worker() for _ in range(parallel)))
    return time.monotonic() - started, accepted, refused


async def indexed(stack: Stack, document_ids: list[str], timeout_s: float) -> float:
    """Seconds until every document reports INDEXED (polled oldest-first, each once it is done)."""
    started = time.monotonic()
    pending = list(document_ids)
    async with grpc.aio.insecure_channel(stack.endpoints.grpc["ingestion"]) as channel:
        stub = ingestion_pb2_grpc.IngestionStub(channel)
        while pending:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{len(pending)} documents not indexed after {timeout_s}s")
            doc = await stub.GetDocument(
                ingestion_pb2.GetDocumentRequest(document_id=pending[-1]), metadata=TENANT, timeout=30
            )
            if doc.versions[-1].stage == ingestion_pb2.PIPELINE_STAGE_INDEXED:
                pending.pop()
            else:
                await asyncio.sleep(0.5)
    return time.monotonic() - started


async def ask_load(
    stack: Stack, clients: int, seconds: float, documents: int
) -> dict[int, tuple[list[float], Counter[str]]]:
    """Minute → (latencies in ms, errors by status) of `clients` concurrent askers."""
    per_minute: dict[int, tuple[list[float], Counter[str]]] = defaultdict(lambda: ([], Counter()))
    started = time.monotonic()
    async with grpc.aio.insecure_channel(stack.endpoints.grpc["gateway"]) as channel:
        stub = gateway_pb2_grpc.AssistantStub(channel)

        async def client(k: int) -> None:
            n = k
            while (elapsed := time.monotonic() - started) < seconds:
                minute = int(elapsed // 60)
                request = gateway_pb2.AskRequest(query=question(n % documents), bypass_cache=True)
                t0 = time.perf_counter()
                try:
                    await stub.Ask(request, metadata=TENANT, timeout=60)
                except grpc.aio.AioRpcError as exc:
                    per_minute[minute][1][exc.code().name] += 1
                else:
                    per_minute[minute][0].append((time.perf_counter() - t0) * 1000)
                n += clients

        await asyncio.gather(*(client(k) for k in range(clients)))
    return per_minute


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--ingest-parallel", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--sample-s", type=float, default=5.0)
    args = parser.parse_args()
    print(f"# Load: {time.strftime('%Y-%m-%d')}, {os.cpu_count()} × {cpu_model()}")
    print(f"`python -m bench.load --documents {args.documents} --clients {args.clients} --minutes {args.minutes}`")
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), model="extractive", ports=StackPorts.free()) as stack:
        samples, phase = Samples(), ["flood"]
        sampler = asyncio.create_task(sample_forever(samples, stack, phase, args.sample_s))
        try:
            sent_s, accepted, refused = await flood(stack, args.documents, args.ingest_parallel)
            searchable_s = await indexed(stack, accepted, timeout_s=3600)
            phase[0] = "asks"
            samples.take(stack, "asks")
            per_minute = await ask_load(stack, args.clients, args.minutes * 60, args.documents)
            samples.take(stack, "asks")
        finally:
            sampler.cancel()

    print("\n## Ingestion flood\n")
    print("| documents | accepted | refused | sent in | accepted/s | all searchable after | to searchable, docs/s |")
    print("|---|---|---|---|---|---|---|")
    total_s = sent_s + searchable_s
    print(
        f"| {args.documents:,} | {len(accepted):,} | {dict(refused) or 0} | {sent_s:.1f} s | "
        f"{len(accepted) / sent_s:,.0f} | {total_s:.1f} s | {len(accepted) / total_s:,.1f} |"
    )
    print(f"\n## Ask: {args.clients} concurrent clients for {args.minutes:g} min\n")
    print("| minute | calls | errors | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|")
    all_ms: list[float] = []
    errors: Counter[str] = Counter()

    def row(label: str, ms: list[float], errs: Counter[str]) -> str:
        latency = f"{pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f}"
        return f"| {label} | {len(ms):,} | {dict(errs) or 0} | {latency} |"

    for minute in sorted(per_minute):
        ms, errs = per_minute[minute]
        all_ms += ms
        errors += errs
        print(row(str(minute + 1), ms, errs))
    print(row("all", all_ms, errors))
    print("\n## Resident memory (MiB)\n")
    print("| process | start | after flood | end of asks | asks growth |\n|---|---|---|---|---|")
    growth_ok = True
    for name, rows in samples.rows.items():
        asks = [mib for _, p, mib in rows if p == "asks"]
        flood_rows = [mib for _, p, mib in rows if p == "flood"]
        growth = asks[-1] / asks[0] if asks and asks[0] else float("nan")
        growth_ok &= growth <= 1.2
        print(f"| {name} | {flood_rows[0]:.0f} | {asks[0]:.0f} | {asks[-1]:.0f} | {growth:.2f}× |")
    print(
        f"\nAsk errors: {sum(errors.values())} ({'none' if not errors else dict(errors)}); every accepted document "
        f"searchable: yes; RSS growth over the Ask phase ≤ 1.2× for every process: {'yes' if growth_ok else 'no'}"
    )
    out = Path(__file__).parent / "results" / "load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "flood": {"sent_s": sent_s, "searchable_s": searchable_s, "accepted": len(accepted)},
                "asks": {str(m): {"ms": v[0], "errors": dict(v[1])} for m, v in per_minute.items()},
                "rss": samples.rows,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
