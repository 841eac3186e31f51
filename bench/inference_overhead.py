"""The inference service's overhead over calling Triton directly: unary latency and time to first streamed token.

One run, side by side: a real Triton (PyTriton) serving the deterministic test model under the TensorRT-LLM
ensemble names, and `python -m services.inference` (its own process, real nats-server for the prompt registry)
in front of it. Each iteration sends the same rendered prompt both ways, alternating which goes first, so
drift on the machine hits both equally.

- direct unary: `tritonclient.grpc.aio` `infer` on `ensemble_unary`;
  platform unary: `Inference.Generate` routed to the same model.
- direct streaming: `ModelStreamInfer` on the decoupled `ensemble`, time to the first text response;
  platform streaming: `Inference.GenerateStream`, time to the first delta.

A third side, `bench/passthrough_server.py`, is a grpc.aio server that only forwards to Triton: the floor any
Python service in between pays (the extra gRPC hop). Overhead = platform − direct, per percentile of each
distribution (the model's own time is in both); "own" = platform − passthrough.

    .venv/bin/python bench/inference_overhead.py [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import tritonclient.grpc.aio as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc

from llmops.api.inference.v1 import inference_pb2, inference_pb2_grpc
from llmops.cli.stack import health_check
from llmops.testing.servers import NatsServer, TritonServer, free_port
from services.inference.adapters.triton import ensemble_inputs, stream_request
from services.inference.core import CHATML_STOP, Message, Parameters, render_chatml

RESULTS = Path(__file__).parent / "results" / "inference_overhead.json"
QUESTION = (
    "Sources:\n[1] (Lists) Lists are mutable sequences.\n[2] (Tuples) Tuples are immutable sequences.\n\n"
    "Question: Are tuples immutable?\n"
)
PARAMS = Parameters(max_tokens=32, stop_words=CHATML_STOP)
SIDES = ("direct", "passthrough", "platform")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def measure(requests: int, triton_url: str, inference_url: str, passthrough_url: str) -> dict[str, list[float]]:
    prompt = render_chatml([Message("user", QUESTION)])
    client = triton.InferenceServerClient(triton_url)
    triton_channel = grpc.aio.insecure_channel(triton_url)
    stream_stub = service_pb2_grpc.GRPCInferenceServiceStub(triton_channel)
    channel = grpc.aio.insecure_channel(inference_url)
    platform_stub = inference_pb2_grpc.InferenceStub(channel)
    passthrough_channel = grpc.aio.insecure_channel(passthrough_url)
    passthrough_stub = inference_pb2_grpc.InferenceStub(passthrough_channel)

    def platform_request(model: str) -> inference_pb2.GenerateRequest:
        return inference_pb2.GenerateRequest(
            messages=inference_pb2.Messages(messages=[inference_pb2.ChatMessage(role="user", content=QUESTION)]),
            model=model,
        )

    async def direct_unary() -> None:
        await client.infer("ensemble_unary", ensemble_inputs(prompt, PARAMS, stream=False))

    async def platform_unary() -> None:
        await platform_stub.Generate(platform_request("unary"))

    async def direct_first_token() -> None:
        request = stream_request("ensemble", prompt, PARAMS)
        done = asyncio.Event()

        async def requests_iter() -> AsyncIterator[service_pb2.ModelInferRequest]:
            yield request
            await done.wait()

        call = stream_stub.ModelStreamInfer(requests_iter())
        async for _ in call:
            break
        done.set()
        call.cancel()

    async def platform_first_token() -> None:
        call = platform_stub.GenerateStream(platform_request("stream"))
        async for _ in call:
            break
        call.cancel()

    async def passthrough_unary() -> None:
        await passthrough_stub.Generate(platform_request(""))

    async def passthrough_first_token() -> None:
        call = passthrough_stub.GenerateStream(platform_request(""))
        async for _ in call:
            break
        call.cancel()

    sides = {
        "unary": {"direct": direct_unary, "passthrough": passthrough_unary, "platform": platform_unary},
        "first_token": {
            "direct": direct_first_token,
            "passthrough": passthrough_first_token,
            "platform": platform_first_token,
        },
    }
    samples: dict[str, list[float]] = {f"{kind}_{side}": [] for kind in sides for side in SIDES}
    for kind, calls in sides.items():
        for _ in range(20):  # warm-up: connections, model config lookups, code paths
            for call in calls.values():
                await call()
        for n in range(requests):
            for i in range(len(SIDES)):  # rotate who goes first
                side = SIDES[(n + i) % len(SIDES)]
                samples[f"{kind}_{side}"].append(await timed(calls[side]))
    await client.close()
    await triton_channel.close()
    await channel.close()
    await passthrough_channel.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, NatsServer(Path(directory) / "nats") as nats, TritonServer() as t:
        port = free_port()
        env = {
            **os.environ,
            "LLMOPS_NATS_URL": nats.url,
            "LLMOPS_DATA_DIR": directory,
            "LLMOPS_LOG_LEVEL": "WARNING",
            "LLMOPS_INFERENCE_GRPC__PORT": str(port),
            "LLMOPS_INFERENCE_MODELS": json.dumps(
                {
                    "unary": {"triton_url": t.grpc_url, "triton_model": "ensemble_unary"},
                    "stream": {"triton_url": t.grpc_url, "triton_model": "ensemble"},
                }
            ),
        }
        service = subprocess.Popen([sys.executable, "-m", "services.inference"], env=env)
        passthrough_port = free_port()
        passthrough = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "passthrough_server.py"), str(passthrough_port), t.grpc_url]
        )
        try:
            deadline = time.monotonic() + 60
            while not health_check(f"127.0.0.1:{port}"):
                if time.monotonic() > deadline or service.poll() is not None:
                    raise SystemExit("the inference service did not start")
                time.sleep(0.2)
            samples = asyncio.run(
                measure(args.requests, t.grpc_url, f"127.0.0.1:{port}", f"127.0.0.1:{passthrough_port}")
            )
        finally:
            for process in (service, passthrough):
                process.terminate()
                process.wait(30)
    report(samples, args.requests)


def report(samples: dict[str, list[float]], requests: int) -> None:
    rows = []
    for kind, label in (("unary", "unary Generate"), ("first_token", "time to first streamed token")):
        for q in (50, 99):
            d, h, p = (percentile(samples[f"{kind}_{side}"], q) for side in SIDES)
            rows.append(
                {
                    "measure": label,
                    "percentile": q,
                    "direct_ms": d,
                    "passthrough_ms": h,
                    "platform_ms": p,
                    "hop_ms": h - d,
                    "overhead_ms": p - d,
                    "own_ms": p - h,
                }
            )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"requests": requests, "machine": platform.machine(), "rows": rows, "samples": samples})
    )
    print(f"{requests} requests per measure and side, order rotated; {platform.machine()}, {os.cpu_count()} CPUs")
    print("| measure | pct | Triton direct | bare proxy | inference service | hop | overhead | own |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['measure']} | p{r['percentile']} | {r['direct_ms']:.2f} ms | {r['passthrough_ms']:.2f} ms "
            f"| {r['platform_ms']:.2f} ms | {r['hop_ms']:+.2f} ms | {r['overhead_ms']:+.2f} ms "
            f"| {r['own_ms']:+.2f} ms |"
        )


if __name__ == "__main__":
    main()
