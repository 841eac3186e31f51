"""OpenTelemetry tracing: the process's tracer provider, gRPC server and client interceptors, NATS header helpers.

Trace context travels as W3C `traceparent`/`tracestate`: in gRPC metadata (the interceptors here) and in NATS
message headers (`inject_trace_headers` when publishing, `consumer_span` when handling). Spans are created even
with `traces_exporter=none`, so ids still propagate and reach the logs through `add_trace_ids`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import grpc
import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from llmops.observability.metrics import Outcome, observed_handler, short_method, split_method
from llmops.settings import TelemetrySettings

_PROPAGATOR = TraceContextTextMapPropagator()
"""W3C TraceContext only, whatever OTEL_PROPAGATORS says: what crosses process boundaries stays predictable."""
_TRACER_NAME = "llmops"

_lock = threading.Lock()
_providers: list[TracerProvider] = []


class _RecordWhenExported(Sampler):
    """Records nothing until spans have somewhere to go, then samples parent-based by ratio.

    Unrecorded spans still get ids that propagate (`traceparent`, log lines) at a fraction of a recorded span's
    cost; adding an exporter later (`add_span_exporter`) turns recording on.
    """

    def __init__(self) -> None:
        self.delegate: Sampler = ALWAYS_OFF

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return self.delegate.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return f"RecordWhenExported({self.delegate.get_description()})"


_SAMPLER = _RecordWhenExported()


def configure_tracing(service_name: str, settings: TelemetrySettings) -> None:
    """Installs the process's tracer provider and the exporter `settings` names; spans are recorded (parent-based,
    at `sample_ratio`) only when there is an exporter.

    Only the first call in a process takes effect; later calls change nothing.
    """
    with _lock:
        if _providers:
            return
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}), sampler=_SAMPLER)
        trace.set_tracer_provider(provider)
        propagate.set_global_textmap(_PROPAGATOR)
        _providers.append(provider)
    if settings.traces_exporter == "otlp":
        # Imported here: the OTLP exporter pulls in its own gRPC stubs, needed only when it is used.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        add_span_exporter(OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True), settings.sample_ratio)
    elif settings.traces_exporter == "jsonl" and settings.traces_file is not None:
        add_span_exporter(JsonlSpanExporter(settings.traces_file), settings.sample_ratio)


def add_span_exporter(exporter: SpanExporter, sample_ratio: float = 1.0) -> None:
    """Sends the process's finished spans to `exporter` too, and records spans from now on.

    A `JsonlSpanExporter` gets every span as it ends (tests and local debugging read the file right away); other
    exporters get batches.
    """
    with _lock:
        if not _providers:
            raise RuntimeError("call configure_tracing first")
        synchronous = isinstance(exporter, JsonlSpanExporter)
        _providers[0].add_span_processor(SimpleSpanProcessor(exporter) if synchronous else BatchSpanProcessor(exporter))
        _SAMPLER.delegate = ParentBased(TraceIdRatioBased(sample_ratio))


def flush_tracing(timeout_millis: int = 5_000) -> None:
    """Exports the spans still buffered, leaving tracing on (several services may share the process)."""
    with _lock:
        for provider in _providers:
            provider.force_flush(timeout_millis)


def shutdown_tracing() -> None:
    """Exports the spans still buffered and stops the exporters; call once when the process stops."""
    with _lock:
        for provider in _providers:
            provider.shutdown()


@functools.cache
def _tracer() -> trace.Tracer:
    """The platform's tracer, looked up once (a lookup costs ~30 µs); before `configure_tracing` this is the API's
    proxy, which binds to the provider once one is installed."""
    return trace.get_tracer(_TRACER_NAME)


class JsonlSpanExporter(SpanExporter):
    """Appends one JSON object per finished span to a file that several processes may share.

    Each line is written with a single `os.write` on a descriptor opened with `O_APPEND`, so lines from different
    processes never interleave. The write happens on the thread that ends the span; meant for development and tests,
    where spans are few.
    """

    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Writes each span as one line."""
        if self._fd is None:
            return SpanExportResult.FAILURE
        for span in spans:
            os.write(self._fd, (json.dumps(span_record(span), default=str) + "\n").encode())
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Closes the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered: every span is written when exported."""
        return True


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The JSON object `JsonlSpanExporter` writes for a span."""
    context = span.get_span_context()
    assert context is not None  # a span the SDK finished always has one
    return {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
        "parent_span_id": trace.format_span_id(span.parent.span_id) if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get(SERVICE_NAME),
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
    }


def current_trace_ids() -> tuple[str, str] | None:
    """Hex trace id and span id of the current span, or None outside any span.

    A span left out by sampling still counts: its ids propagate and join the logs of one request across services.
    """
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def add_trace_ids(_: object, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """structlog processor: adds `trace_id` and `span_id` when a span is current."""
    ids = current_trace_ids()
    if ids is not None:
        event_dict.setdefault("trace_id", ids[0])
        event_dict.setdefault("span_id", ids[1])
    return event_dict


def annotate_current_span(**attributes: AttributeValue) -> None:
    """Adds attributes (dots spelled as `__`: `llmops__interaction_id`) to the current span, if one records."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({key.replace("__", "."): value for key, value in attributes.items()})


def inject_trace_headers(headers: dict[str, str]) -> dict[str, str]:
    """Adds the current context's `traceparent` (and `tracestate`) to outgoing NATS headers; returns `headers`."""
    _PROPAGATOR.inject(headers)
    return headers


@contextmanager
def consumer_span(name: str, headers: Mapping[str, str] | None, **attributes: AttributeValue) -> Iterator[Span]:
    """A current CONSUMER span, child of the trace context in a received message's headers.

    An exception leaving the block is recorded on the span and marks it as an error.
    """
    parent = _PROPAGATOR.extract(dict(headers or {}))
    with _tracer().start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes={"messaging.system": "nats", **attributes}
    ) as span:
        yield span


@functools.lru_cache(maxsize=1024)
def _rpc_attributes(full_method: str) -> Mapping[str, AttributeValue]:
    """Per method, computed once: the span name's attributes (read-only; the SDK copies them)."""
    service, method = split_method(full_method)
    return MappingProxyType({"rpc.system": "grpc", "rpc.service": service, "rpc.method": method})


def _end(span: Span, code: grpc.StatusCode, error: BaseException | None = None) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    if error is not None and not isinstance(error, grpc.aio.AbortError | asyncio.CancelledError | GeneratorExit):
        span.record_exception(error)
    span.end()


class TracingServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Runs every call inside a SERVER span, child of the caller's `traceparent`; all four handler kinds.

    The span is named like `Assistant.Ask` and carries `rpc.system`, `rpc.service`, `rpc.method` and
    `rpc.grpc.status_code`; a non-OK status marks it as an error.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full_method: str = handler_call_details.method
        carrier = {str(k): v for k, v in handler_call_details.invocation_metadata or () if isinstance(v, str)}

        @contextmanager
        def observe(_: grpc.aio.ServicerContext) -> Iterator[Outcome]:
            outcome = Outcome()
            span = _tracer().start_span(
                short_method(full_method),
                context=_PROPAGATOR.extract(carrier),
                kind=SpanKind.SERVER,
                attributes=_rpc_attributes(full_method),
            )
            # Around a streaming handler this spans its yields: gRPC drives the generator in the RPC's own task.
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                yield outcome
            finally:
                # A stream the client left is closed (GeneratorExit) from another context, where the token cannot be
                # reset; that context is discarded with the call, so there is nothing to undo.
                if not isinstance(outcome.error, GeneratorExit):
                    otel_context.detach(token)
                _end(span, outcome.code, outcome.error)

        return observed_handler(handler, observe)


_pending_spans: set[asyncio.Task[None]] = set()
"""Tasks ending the spans of streaming calls; held so the event loop does not drop them half-way."""


class TracingClientInterceptor:
    """Starts a CLIENT span per call and sends its context in the `traceparent`/`tracestate` metadata.

    Implements the intercept methods of all four call kinds, but grpc.aio files each interceptor under the first
    kind it is an instance of, so a channel needs one instance per kind: pass `client_interceptors()`.
    """

    def _start(self, details: grpc.aio.ClientCallDetails) -> tuple[Span, grpc.aio.ClientCallDetails]:
        method = details.method.decode() if isinstance(details.method, bytes) else str(details.method)
        span = _tracer().start_span(short_method(method), kind=SpanKind.CLIENT, attributes=_rpc_attributes(method))
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span, Context()))
        kept = [(k, v) for k, v in details.metadata or () if k not in carrier]
        metadata = grpc.aio.Metadata(*kept, *carrier.items())
        return span, grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    @staticmethod
    async def _end_when_done(span: Span, call: Any) -> None:
        try:
            code = await call.code()
        except BaseException:
            _end(span, grpc.StatusCode.CANCELLED)
            raise
        _end(span, code)

    async def _intercept_streaming(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        # Returned at once: a caller's `write()` waits for the interceptors to return, so waiting for the end of the
        # call here would deadlock; a task ends the span when the call finishes.
        span, details = self._start(details)
        try:
            call = await continuation(details, request)
        except BaseException as exc:
            _end(
                span, grpc.StatusCode.CANCELLED if isinstance(exc, asyncio.CancelledError) else grpc.StatusCode.UNKNOWN
            )
            raise
        task = asyncio.get_running_loop().create_task(self._end_when_done(span, call))
        _pending_spans.add(task)
        task.add_done_callback(_pending_spans.discard)
        return call

    async def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        """Traces a unary call; the span ends with the call, before the caller sees the response."""
        span, details = self._start(details)
        call = None
        try:
            call = await continuation(details, request)
            code = await call.code()
        except asyncio.CancelledError:
            if call is not None:
                call.cancel()
            _end(span, grpc.StatusCode.CANCELLED)
            raise
        except BaseException:
            _end(span, grpc.StatusCode.UNKNOWN)
            raise
        _end(span, code)
        return call

    async def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        """Traces a server-streaming call; the span ends when the call does."""
        return await self._intercept_streaming(continuation, details, request)

    async def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        """Traces a client-streaming call; the span ends when the call does."""
        return await self._intercept_streaming(continuation, details, requests)

    async def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        """Traces a bidirectional call; the span ends when the call does."""
        return await self._intercept_streaming(continuation, details, requests)


class _UnaryUnary(TracingClientInterceptor, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    pass


class _UnaryStream(TracingClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    pass


class _StreamUnary(TracingClientInterceptor, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    pass


class _StreamStream(TracingClientInterceptor, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    pass


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """The tracing interceptors for `grpc.aio.insecure_channel(..., interceptors=client_interceptors())`."""
    return [_UnaryUnary(), _UnaryStream(), _StreamUnary(), _StreamStream()]
