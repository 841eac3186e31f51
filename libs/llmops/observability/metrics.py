"""Prometheus metrics every service exposes, the gRPC server interceptor that records calls, and `/metrics`.

Every metric lives in the default registry, named `llmops_*`:

| metric | type | labels | meaning |
|---|---|---|---|
| `llmops_rpc_requests_total` | counter | service, method, code | gRPC calls handled, by final status code name |
| `llmops_rpc_duration_seconds` | histogram | service, method | gRPC call latency, handler start to end |
| `llmops_rpc_in_flight` | gauge | service | gRPC calls being handled now |
| `llmops_events_handled_total` | counter | service, subject, outcome | bus events by outcome (see below) |
| `llmops_event_handle_seconds` | histogram | service, subject | time a bus handler took for one event |
| `llmops_dead_letters_total` | counter | service, subject | events sent to `deadletter.<subject>` |
| `llmops_consumer_pending` | gauge | stream, consumer | consumer lag: num_pending + num_ack_pending |
| `llmops_consumer_redelivered` | gauge | stream, consumer | messages delivered more than once and not yet acked |
| `llmops_tokens_total` | counter | tenant, model, kind | tokens read (prompt) and generated (completion) |
| `llmops_cost_usd_total` | counter | tenant, model | estimated spend in US dollars |
| `llmops_cache_lookups_total` | counter | result | semantic cache lookups |
| `llmops_guardrail_verdicts_total` | counter | stage, action | guardrail verdicts (see below) |
| `llmops_rejected_total` | counter | service, reason | calls refused before their handler ran |

Label values: `outcome` ack, retry, dead_letter, duplicate; `kind` prompt, completion; `result` hit, miss; `stage`
input, output, document; `action` allow, redact, block; `reason` rate_limited, overloaded, unauthenticated,
permission_denied; `code` a `grpc.StatusCode` name.

The `method` label is the short form `Assistant.Ask` of `/llmops.api.gateway.v1.Assistant/Ask`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from nats.js.api import ConsumerInfo
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from llmops.errors import BUS_UNREACHABLE, DomainError
from llmops.grpc_handlers import same_kind
from llmops.settings import TelemetrySettings

RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds; from a cached lookup (sub-millisecond) to a long generation (30 s)."""
EVENT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds; event handlers include document parsing and embedding, which take minutes for large files."""

RPC_REQUESTS = Counter(
    "llmops_rpc_requests_total", "gRPC calls handled, by final status code.", ["service", "method", "code"]
)
RPC_DURATION = Histogram(
    "llmops_rpc_duration_seconds", "gRPC call latency in seconds.", ["service", "method"], buckets=RPC_BUCKETS
)
RPC_IN_FLIGHT = Gauge("llmops_rpc_in_flight", "gRPC calls being handled now.", ["service"])
EVENTS_HANDLED = Counter(
    "llmops_events_handled_total",
    "Bus events handled, by outcome: ack, retry, dead_letter, duplicate.",
    ["service", "subject", "outcome"],
)
EVENT_HANDLE_SECONDS = Histogram(
    "llmops_event_handle_seconds",
    "Time a bus handler took for one event.",
    ["service", "subject"],
    buckets=EVENT_BUCKETS,
)
DEAD_LETTERS = Counter("llmops_dead_letters_total", "Events sent to the dead-letter stream.", ["service", "subject"])
CONSUMER_PENDING = Gauge(
    "llmops_consumer_pending",
    "Consumer lag: messages not yet delivered plus delivered but unacked.",
    ["stream", "consumer"],
)
CONSUMER_REDELIVERED = Gauge(
    "llmops_consumer_redelivered", "Messages delivered more than once and not yet acked.", ["stream", "consumer"]
)
TOKENS = Counter("llmops_tokens_total", "Tokens by kind: prompt, completion.", ["tenant", "model", "kind"])
COST_USD = Counter("llmops_cost_usd_total", "Estimated spend in US dollars.", ["tenant", "model"])
CACHE_LOOKUPS = Counter("llmops_cache_lookups_total", "Semantic cache lookups: hit, miss.", ["result"])
GUARDRAIL_VERDICTS = Counter(
    "llmops_guardrail_verdicts_total",
    "Guardrail verdicts; stage input, output, document; action allow, redact, block.",
    ["stage", "action"],
)
REJECTED = Counter(
    "llmops_rejected_total",
    "Calls refused: rate_limited, overloaded, unauthenticated, permission_denied.",
    ["service", "reason"],
)


def split_method(full_method: str) -> tuple[str, str]:
    """`/llmops.api.gateway.v1.Assistant/Ask` → (`llmops.api.gateway.v1.Assistant`, `Ask`)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


@functools.lru_cache(maxsize=1024)
def short_method(full_method: str) -> str:
    """`/llmops.api.gateway.v1.Assistant/Ask` → `Assistant.Ask`: readable, and unique within the platform."""
    service, method = split_method(full_method)
    return f"{service.rsplit('.', 1)[-1]}.{method}" if service else method


def record_usage(tenant: str, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
    """Counts one generation's tokens and cost."""
    TOKENS.labels(tenant, model, "prompt").inc(prompt_tokens)
    TOKENS.labels(tenant, model, "completion").inc(completion_tokens)
    COST_USD.labels(tenant, model).inc(cost_usd)


def count_cache_lookup(hit: bool) -> None:
    """Counts one semantic cache lookup."""
    CACHE_LOOKUPS.labels("hit" if hit else "miss").inc()


def count_verdict(stage: str, action: str) -> None:
    """Counts one guardrail verdict (`stage` input, output, document; `action` allow, redact, block)."""
    GUARDRAIL_VERDICTS.labels(stage, action).inc()


def count_rejection(full_method: str, reason: str) -> None:
    """Counts a call refused before its handler (`reason`: rate_limited, overloaded, unauthenticated,
    permission_denied), labelled with the platform service the method belongs to."""
    package = full_method.lstrip("/").split(".")
    service = package[2] if len(package) > 3 and package[:2] == ["llmops", "api"] else split_method(full_method)[0]
    REJECTED.labels(service, reason).inc()


def record_consumer_info(info: ConsumerInfo) -> None:
    """Sets the lag and redelivery gauges from a JetStream consumer's info (`js.consumer_info(...)`)."""
    CONSUMER_PENDING.labels(info.stream_name, info.name).set((info.num_pending or 0) + (info.num_ack_pending or 0))
    CONSUMER_REDELIVERED.labels(info.stream_name, info.name).set(info.num_redelivered or 0)


def rpc_status(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    """The status a call ends with, seen from inside the server's interceptor chain.

    `context.code()` holds what the handler passed to `abort` or `set_code` (None when it set nothing). An exception
    that is not an abort has no status yet: it is counted as what `ErrorMappingInterceptor` turns it into.
    """
    code = context.code()
    if error is None:
        return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK
    if isinstance(error, grpc.aio.AbortError):
        return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        # The handler is cancelled both when the caller gives up and when its deadline passes.
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    if isinstance(error, DomainError):
        return grpc.StatusCode.__members__.get(error.status, grpc.StatusCode.INTERNAL)
    if isinstance(error, BUS_UNREACHABLE):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


@dataclass
class Outcome:
    """How an observed call ended: filled in by `observed_handler` before the observer's context exits."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    error: BaseException | None = None


Observer = Callable[[grpc.aio.ServicerContext], AbstractContextManager[Outcome]]
"""Runs around one call: entered before the handler, exited after it with the `Outcome` filled in."""


def observed_handler(handler: grpc.RpcMethodHandler, observe: Observer) -> Any:
    """A handler of the same kind as `handler` whose every call runs inside `observe(context)`.

    Streaming handlers may be async generators or reader/writer coroutines (`await context.write(...)`).
    """

    def unary(behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def run(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with observe(context) as outcome:
                try:
                    response = await behaviour(request, context)
                except BaseException as exc:
                    outcome.code, outcome.error = rpc_status(context, exc), exc
                    raise
                outcome.code = rpc_status(context, None)
                return response

        return run

    def stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.isasyncgenfunction(behaviour):
            # Reader/writer style (`await context.write(...)`, returns None), e.g. the health service's Watch.
            return unary(behaviour)

        async def run(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            with observe(context) as outcome:
                try:
                    async for item in behaviour(request, context):
                        yield item
                except BaseException as exc:
                    outcome.code, outcome.error = rpc_status(context, exc), exc
                    raise
                outcome.code = rpc_status(context, None)

        return run

    return same_kind(handler, unary, stream)


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts calls by final status, times them and tracks the calls in flight, for handlers of all four kinds.

    Args:
        service: the `service` label, e.g. `gateway`.
    """

    def __init__(self, service: str) -> None:
        self._service = service
        self._in_flight = RPC_IN_FLIGHT.labels(service)
        # Label lookups hash and lock; the children are resolved once per method (and code) instead of per call.
        self._durations: dict[str, Any] = {}
        self._counters: dict[tuple[str, grpc.StatusCode], Any] = {}

    def _duration(self, method: str) -> Any:
        child = self._durations.get(method)
        if child is None:
            child = self._durations[method] = RPC_DURATION.labels(self._service, method)
        return child

    def _requests(self, method: str, code: grpc.StatusCode) -> Any:
        child = self._counters.get((method, code))
        if child is None:
            child = self._counters[(method, code)] = RPC_REQUESTS.labels(self._service, method, code.name)
        return child

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = short_method(handler_call_details.method)
        in_flight, duration = self._in_flight, self._duration(method)

        @contextmanager
        def observe(_: grpc.aio.ServicerContext) -> Iterator[Outcome]:
            outcome = Outcome()
            in_flight.inc()
            started = time.perf_counter()
            try:
                yield outcome
            finally:
                in_flight.dec()
                duration.observe(time.perf_counter() - started)
                self._requests(method, outcome.code).inc()

        return observed_handler(handler, observe)


_endpoint_lock = threading.Lock()
_endpoint_port: dict[str, int] = {}


def start_metrics_endpoint(settings: TelemetrySettings) -> int | None:
    """Serves `/metrics` on `settings.metrics_host:settings.metrics_port` from a daemon thread.

    Returns the bound port (the free one chosen when the setting is 0), or None when `metrics_port` is None. A
    process has one endpoint: later calls return the first call's port.
    """
    if settings.metrics_port is None:
        return None
    with _endpoint_lock:
        if "port" not in _endpoint_port:
            server, _ = start_http_server(settings.metrics_port, addr=settings.metrics_host)
            _endpoint_port["port"] = int(server.server_port)
        return _endpoint_port["port"]
