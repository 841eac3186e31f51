"""Metrics and traces on real grpc.aio servers: status codes, latency, in-flight, a traced call chain, /metrics."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace
from prometheus_client import REGISTRY

from llmops.api.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from llmops.api.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.errors import NotFound
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.observability import (
    JsonlSpanExporter,
    MetricsInterceptor,
    TracingServerInterceptor,
    add_span_exporter,
    client_interceptors,
    configure_tracing,
    start_metrics_endpoint,
)
from llmops.settings import TelemetrySettings

pytestmark = pytest.mark.integration

ASSISTANT = "llmops.api.gateway.v1.Assistant"
EMBEDDING = "llmops.api.embedding.v1.Embedding"
INGESTION = "llmops.api.ingestion.v1.Ingestion"


class Embedder(embedding_pb2_grpc.EmbeddingServicer):
    """Server B: answers at once."""

    async def Embed(
        self, request: embedding_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> embedding_pb2.EmbedResponse:
        return embedding_pb2.EmbedResponse(model="b-model", dimensions=len(request.texts))


class Assistant(gateway_pb2_grpc.AssistantServicer):
    """Server A: the query picks how the call ends; `chain` calls server B through a traced channel."""

    def __init__(self) -> None:
        self.downstream = ""
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def Ask(self, request: gateway_pb2.AskRequest, context: grpc.aio.ServicerContext) -> gateway_pb2.AskResponse:
        match request.query:
            case "chain":
                async with grpc.aio.insecure_channel(self.downstream, interceptors=client_interceptors()) as channel:
                    embedded = await embedding_pb2_grpc.EmbeddingStub(channel).Embed(
                        embedding_pb2.EmbedRequest(texts=["q"])
                    )
                return gateway_pb2.AskResponse(model=embedded.model)
            case "missing":
                raise NotFound("no such dataset")
            case "abort":
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "not ready")
            case "set_code":
                context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
                context.set_details("budget spent")
            case "bug":
                raise ZeroDivisionError("a bug")
            case "hold":
                self.started.set()
                await self.release.wait()
        return gateway_pb2.AskResponse(answer="fine")

    async def AskStream(
        self, request: gateway_pb2.AskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.AskStreamResponse]:
        yield gateway_pb2.AskStreamResponse(delta="one")
        if request.query == "abort":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "stopped half-way")
        yield gateway_pb2.AskStreamResponse(delta="two")


class Ingestion(ingestion_pb2_grpc.IngestionServicer):
    """Client streaming: counts the parts it receives."""

    async def IngestStream(
        self, request_iterator: AsyncIterator[ingestion_pb2.IngestStreamRequest], context: grpc.aio.ServicerContext
    ) -> ingestion_pb2.IngestResponse:
        parts = [part async for part in request_iterator]
        return ingestion_pb2.IngestResponse(chunk_count=len(parts))


@pytest.fixture(scope="module")
def spans_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The process's tracer provider, with every finished span also written to this module's JSONL file."""
    configure_tracing("llmops-test", TelemetrySettings())  # a no-op if another test configured the process first
    path = tmp_path_factory.mktemp("traces") / "spans.jsonl"
    add_span_exporter(JsonlSpanExporter(path))
    return path


SERVICE_A = "gateway+ingestion"
"""The `service` label GrpcServer gives server A, which hosts the gateway's and ingestion's services."""


@pytest.fixture
async def servers(spans_file: Path) -> AsyncIterator[tuple[GrpcServer, GrpcServer, Assistant]]:
    """Server A (Assistant, Ingestion) calling server B (Embedding); GrpcServer traces and measures both."""
    b = GrpcServer(
        [ServiceBinding(Embedder(), embedding_pb2_grpc.add_EmbeddingServicer_to_server, EMBEDDING)],
    )
    assistant = Assistant()
    a = GrpcServer(
        [
            ServiceBinding(assistant, gateway_pb2_grpc.add_AssistantServicer_to_server, ASSISTANT),
            # Only IngestStream is served; the generated base answers UNIMPLEMENTED for the rest.
            ServiceBinding(Ingestion(), ingestion_pb2_grpc.add_IngestionServicer_to_server, INGESTION),  # type: ignore[abstract]
        ],
    )
    assistant.downstream = b.address
    await b.start()
    await a.start()
    yield a, b, assistant
    await a.stop(0)
    await b.stop(0)


@pytest.fixture
async def channel(servers: tuple[GrpcServer, GrpcServer, Assistant]) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(servers[0].address, interceptors=client_interceptors()) as opened:
        yield opened


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def records(path: Path, trace_id: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["trace_id"] == trace_id]


async def eventually(check: Callable[[], bool]) -> None:
    """Waits until `check()` holds, for things that happen in another task or on the server after a call returns."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    assert check()


async def settled_records(path: Path, trace_id: str, count: int) -> list[dict[str, Any]]:
    """The trace's spans once `count` are written: a streaming call's client span ends in a task after the call."""
    await eventually(lambda: len(records(path, trace_id)) >= count)
    return records(path, trace_id)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("ok", grpc.StatusCode.OK),
        ("abort", grpc.StatusCode.FAILED_PRECONDITION),
        ("set_code", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("missing", grpc.StatusCode.NOT_FOUND),
        ("bug", grpc.StatusCode.INTERNAL),
    ],
)
async def test_each_call_is_counted_under_the_status_the_caller_receives(
    channel: grpc.aio.Channel, query: str, code: grpc.StatusCode
) -> None:
    """OK, an abort, a set_code, a domain error and a bug: the code label matches what the client sees."""
    labels = {"service": SERVICE_A, "method": "Assistant.Ask"}
    count_before = sample("llmops_rpc_requests_total", **labels, code=code.name)
    observed_before = sample("llmops_rpc_duration_seconds_count", **labels)
    bucket_before = sample("llmops_rpc_duration_seconds_bucket", **labels, le="+Inf")

    call = gateway_pb2_grpc.AssistantStub(channel).Ask(gateway_pb2.AskRequest(query=query))
    assert await call.code() == code

    assert sample("llmops_rpc_requests_total", **labels, code=code.name) == count_before + 1
    assert sample("llmops_rpc_duration_seconds_count", **labels) == observed_before + 1
    assert sample("llmops_rpc_duration_seconds_bucket", **labels, le="+Inf") == bucket_before + 1
    assert sample("llmops_rpc_in_flight", service=SERVICE_A) == 0


async def test_a_call_is_in_flight_until_its_handler_returns(
    channel: grpc.aio.Channel, servers: tuple[GrpcServer, GrpcServer, Assistant]
) -> None:
    """The gauge rises while the handler runs and falls when it ends."""
    assistant = servers[2]
    call = gateway_pb2_grpc.AssistantStub(channel).Ask(gateway_pb2.AskRequest(query="hold"))
    await assistant.started.wait()
    assert sample("llmops_rpc_in_flight", service=SERVICE_A) == 1
    assistant.release.set()
    await call
    assert sample("llmops_rpc_in_flight", service=SERVICE_A) == 0


async def test_streaming_calls_of_every_kind_are_counted(channel: grpc.aio.Channel) -> None:
    """Server streaming (OK and aborted half-way), client streaming, bidirectional (reflection) and health."""
    cases = {
        ("Assistant.AskStream", "OK"): 1,
        ("Assistant.AskStream", "FAILED_PRECONDITION"): 1,
        ("Ingestion.IngestStream", "OK"): 1,
        ("ServerReflection.ServerReflectionInfo", "OK"): 1,
        ("Health.Check", "OK"): 1,
    }
    before = {k: sample("llmops_rpc_requests_total", service=SERVICE_A, method=k[0], code=k[1]) for k in cases}

    assistant = gateway_pb2_grpc.AssistantStub(channel)
    assert [r.delta async for r in assistant.AskStream(gateway_pb2.AskRequest(query="ok"))] == ["one", "two"]
    aborted = assistant.AskStream(gateway_pb2.AskRequest(query="abort"))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        _ = [r async for r in aborted]
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    async def parts() -> AsyncIterator[ingestion_pb2.IngestStreamRequest]:
        yield ingestion_pb2.IngestStreamRequest(header=ingestion_pb2.DocumentHeader(source_uri="a.txt"))
        yield ingestion_pb2.IngestStreamRequest(content=b"text")

    ingested = await ingestion_pb2_grpc.IngestionStub(channel).IngestStream(parts())
    assert ingested.chunk_count == 2

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    listed = [r async for r in reflection]
    assert ASSISTANT in {s.name for s in listed[0].list_services_response.service}

    health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=ASSISTANT))
    assert health.status == health_pb2.HealthCheckResponse.SERVING

    for (method, code), increase in cases.items():
        assert sample("llmops_rpc_requests_total", service=SERVICE_A, method=method, code=code) == (
            before[(method, code)] + increase
        ), (method, code)
    assert sample("llmops_rpc_in_flight", service=SERVICE_A) == 0


async def test_a_call_chain_is_one_trace_with_each_span_the_child_of_its_caller(
    channel: grpc.aio.Channel, spans_file: Path
) -> None:
    """caller → client Assistant.Ask → server A → client Embedding.Embed → server B, linked by traceparent."""
    with trace.get_tracer("test").start_as_current_span("caller") as root:
        response = await gateway_pb2_grpc.AssistantStub(channel).Ask(gateway_pb2.AskRequest(query="chain"))
    assert response.model == "b-model"

    trace_id = trace.format_trace_id(root.get_span_context().trace_id)
    spans = {(r["name"], r["kind"]): r for r in records(spans_file, trace_id)}
    assert set(spans) == {
        ("caller", "INTERNAL"),
        ("Assistant.Ask", "CLIENT"),
        ("Assistant.Ask", "SERVER"),
        ("Embedding.Embed", "CLIENT"),
        ("Embedding.Embed", "SERVER"),
    }
    chain = [
        spans["caller", "INTERNAL"],
        spans["Assistant.Ask", "CLIENT"],
        spans["Assistant.Ask", "SERVER"],
        spans["Embedding.Embed", "CLIENT"],
        spans["Embedding.Embed", "SERVER"],
    ]
    for parent, child in zip(chain, chain[1:], strict=False):
        assert child["parent_span_id"] == parent["span_id"], child["name"]
    server_b = spans["Embedding.Embed", "SERVER"]["attributes"]
    assert server_b == {
        "rpc.system": "grpc",
        "rpc.service": EMBEDDING,
        "rpc.method": "Embed",
        "rpc.grpc.status_code": 0,
    }
    assert all(s["status"] == "UNSET" for s in chain)
    # One process: the service name of the first configure_tracing call in it (another test's service may win).
    assert len({s["service"] for s in chain}) == 1


async def test_a_failed_call_marks_both_its_client_and_server_spans_as_errors(
    channel: grpc.aio.Channel, spans_file: Path
) -> None:
    """NOT_FOUND on the server is status code 5 and ERROR on both sides."""
    with trace.get_tracer("test").start_as_current_span("caller") as root:
        call = gateway_pb2_grpc.AssistantStub(channel).Ask(gateway_pb2.AskRequest(query="missing"))
        assert await call.code() == grpc.StatusCode.NOT_FOUND

    trace_id = trace.format_trace_id(root.get_span_context().trace_id)
    spans = {r["kind"]: r for r in records(spans_file, trace_id) if r["name"] == "Assistant.Ask"}
    for kind in ("CLIENT", "SERVER"):
        assert spans[kind]["status"] == "ERROR"
        assert spans[kind]["attributes"]["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]


async def test_streaming_calls_carry_the_trace_in_both_directions_of_streaming(
    channel: grpc.aio.Channel, spans_file: Path
) -> None:
    """Server, client and bidirectional streaming calls each get a client span and a child server span."""
    with trace.get_tracer("test").start_as_current_span("caller") as root:
        _ = [r async for r in gateway_pb2_grpc.AssistantStub(channel).AskStream(gateway_pb2.AskRequest(query="ok"))]

        async def parts() -> AsyncIterator[ingestion_pb2.IngestStreamRequest]:
            yield ingestion_pb2.IngestStreamRequest(content=b"text")

        await ingestion_pb2_grpc.IngestionStub(channel).IngestStream(parts())
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        _ = [r async for r in reflection]

    trace_id = trace.format_trace_id(root.get_span_context().trace_id)
    found = await settled_records(spans_file, trace_id, 7)
    spans = {(r["name"], r["kind"]): r for r in found}
    for name in ("Assistant.AskStream", "Ingestion.IngestStream", "ServerReflection.ServerReflectionInfo"):
        client, server = spans[name, "CLIENT"], spans[name, "SERVER"]
        assert client["parent_span_id"] == spans["caller", "INTERNAL"]["span_id"]
        assert server["parent_span_id"] == client["span_id"]
        assert client["attributes"]["rpc.grpc.status_code"] == server["attributes"]["rpc.grpc.status_code"] == 0


async def test_a_reader_writer_stream_is_counted_as_cancelled_or_past_its_deadline(spans_file: Path) -> None:
    """Health.Watch writes with `context.write` and never ends by itself: the caller's cancel and deadline end it."""
    server = grpc.aio.server(interceptors=[TracingServerInterceptor(), MetricsInterceptor("watch")])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    labels = {"service": "watch", "method": "Health.Watch"}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=client_interceptors()) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            assert sample("llmops_rpc_in_flight", service="watch") == 1
            watch.cancel()
            await eventually(lambda: sample("llmops_rpc_requests_total", **labels, code="CANCELLED") == 1)

            expiring = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=0.5)
            with pytest.raises(grpc.aio.AioRpcError) as error:
                _ = [r async for r in expiring]
            assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await eventually(lambda: sample("llmops_rpc_requests_total", **labels, code="DEADLINE_EXCEEDED") == 1)
            assert sample("llmops_rpc_in_flight", service="watch") == 0
    finally:
        await server.stop(0)


def test_the_metrics_endpoint_serves_the_registry_over_http() -> None:
    """Port 0 picks a free port; a second call returns the same one; the text names the RPC counter."""
    assert start_metrics_endpoint(TelemetrySettings()) is None
    port = start_metrics_endpoint(TelemetrySettings(metrics_port=0))
    assert port is not None and port > 0
    assert start_metrics_endpoint(TelemetrySettings(metrics_port=0)) == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
        text = response.read().decode()
    assert "llmops_rpc_requests_total" in text
    assert "llmops_rpc_duration_seconds_bucket" in text or "# TYPE llmops_rpc_duration_seconds histogram" in text


CONFIGURED_PROCESS = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from llmops.observability import configure_tracing, consumer_span, shutdown_tracing
    from llmops.settings import TelemetrySettings

    path, name = sys.argv[1], sys.argv[2]
    configure_tracing(name, TelemetrySettings(traces_exporter="jsonl", traces_file=path, sample_ratio=0.0))
    configure_tracing("ignored", TelemetrySettings())  # a second call changes nothing
    with trace.get_tracer("t").start_as_current_span("unsampled root"):
        pass
    sampled = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    for i in range(50):
        with consumer_span("handle", sampled, index=i):
            pass
    shutdown_tracing()
    """
)


def test_configured_processes_share_one_jsonl_file_and_honour_parent_based_sampling(tmp_path: Path) -> None:
    """Two processes append whole lines to one file; ratio 0 drops new traces but continues a sampled caller's."""
    path = tmp_path / "traces.jsonl"
    processes = [
        subprocess.Popen([sys.executable, "-c", CONFIGURED_PROCESS, str(path), name]) for name in ("one", "two")
    ]
    assert [p.wait() for p in processes] == [0, 0]

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 100
    assert {r["name"] for r in lines} == {"handle"}
    assert {r["service"] for r in lines} == {"one", "two"}
    assert {r["trace_id"] for r in lines} == {"0af7651916cd43dd8448eb211c80319c"}
    assert {r["parent_span_id"] for r in lines} == {"b7ad6b7169203331"}
    assert {r["kind"] for r in lines} == {"CONSUMER"}
    assert sorted(r["attributes"]["index"] for r in lines if r["service"] == "one") == list(range(50))


async def test_a_stream_the_client_leaves_ends_its_span_without_a_context_error(
    channel: grpc.aio.Channel, spans_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """gRPC closes an abandoned stream's generator from another context; the span still ends, nothing is logged."""
    with trace.get_tracer("test").start_as_current_span("caller") as root:
        call = gateway_pb2_grpc.AssistantStub(channel).AskStream(gateway_pb2.AskRequest(query="ok"))
        first = await call.read()
        call.cancel()
    assert first.delta == "one"
    trace_id = trace.format_trace_id(root.get_span_context().trace_id)

    async def server_span() -> list[dict[str, Any]]:
        while not (found := [r for r in records(spans_file, trace_id) if r["kind"] == "SERVER"]):
            await asyncio.sleep(0.01)
        return found

    spans = await asyncio.wait_for(server_span(), 10)
    assert [s["name"] for s in spans] == ["Assistant.AskStream"]
    assert "Failed to detach context" not in caplog.text
