"""Admission control on a service's gRPC port: per-principal rate limits and a bound on calls in flight.

Both refuse at once with RESOURCE_EXHAUSTED (and a `retry-after-ms` trailer) instead of queueing: under overload
the caller learns in microseconds and backs off, while the calls already admitted keep their latency.

- `RateLimiter`: a token bucket per principal (tenant + subject): `burst` calls at once, then `rate_per_s`.
- `ConcurrencyInterceptor`: at most `max_concurrent` calls in flight; put it before authentication so a flood
  of bad credentials (each costs a key derivation) is bounded too.
- `RateLimitInterceptor`: after authentication, so the bucket is the verified caller's, not a header's; the
  platform's own services (role `service`) are exempt, so one user's `Ask` fanning out into several internal
  calls never spends more than its one token at the gateway.

Health checks and reflection are never limited: a busy service must still answer its probes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from llmops.auth import TENANT_HEADER, USER_HEADER
from llmops.errors import Unauthenticated
from llmops.grpc_handlers import Behaviour, same_kind
from llmops.logging import get_logger
from llmops.observability.metrics import count_rejection
from llmops.security.context import current_authentication
from llmops.security.roles import PUBLIC_SERVICES, Role
from llmops.settings import LimitSettings

log = get_logger(__name__)

RETRY_AFTER_HEADER = "retry-after-ms"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key: each holds up to `burst` tokens and refills at `rate_per_s`; a call takes one.

    Only the `max_keys` most recently used buckets are kept; a dropped one starts full again, which errs on the
    caller's side and bounds memory whatever the number of principals.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate_per_s must be > 0, burst and max_keys >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, key: str) -> float:
        """Takes a token from `key`'s bucket; returns 0.0 if one was there, else the seconds until one will be."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate_per_s)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate_per_s

    def __len__(self) -> int:
        return len(self._buckets)


def _is_public(method: str) -> bool:
    return method.lstrip("/").rpartition("/")[0] in PUBLIC_SERVICES


def caller_key(metadata: Any, exempt_roles: frozenset[str] = frozenset()) -> str | None:
    """The rate-limit key of the call: the verified caller (None if it holds an exempt role), else the
    `x-llmops-*` identity when the server authenticates no one."""
    try:
        caller = current_authentication().caller
    except Unauthenticated:  # this server authenticates no one: the headers are all there is
        values = {str(k).lower(): v for k, v in metadata or ()}
        return f"{_text(values.get(TENANT_HEADER, ''))}/{_text(values.get(USER_HEADER, ''))}"
    if exempt_roles & set(caller.roles):
        return None
    return f"{caller.tenant}/{caller.subject}"


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


async def _refuse(context: grpc.aio.ServicerContext, retry_after_s: float, details: str) -> None:
    context.set_trailing_metadata(((RETRY_AFTER_HEADER, str(max(1, math.ceil(retry_after_s * 1000)))),))
    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, details)


class RateLimitInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses a principal's calls beyond its token bucket with RESOURCE_EXHAUSTED and `retry-after-ms`.

    Callers holding an exempt role (by default `service`: the platform's own services, which fan one user request
    out into several calls) are not rate limited; the concurrency bound still applies to them.
    """

    def __init__(self, limiter: RateLimiter, exempt_roles: frozenset[str] = frozenset({Role.SERVICE.value})) -> None:
        self._limiter = limiter
        self._exempt = exempt_roles

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or _is_public(handler_call_details.method):
            return handler
        limiter, exempt = self._limiter, self._exempt
        method = handler_call_details.method

        async def admitted(context: grpc.aio.ServicerContext) -> None:
            key = caller_key(context.invocation_metadata(), exempt)
            if key is None:
                return
            wait_s = limiter.acquire(key)
            if wait_s:
                log.info("rpc refused", method=method, code="RESOURCE_EXHAUSTED", reason="rate_limited", caller=key)
                count_rejection(method, "rate_limited")
                await _refuse(
                    context,
                    wait_s,
                    f"rate limit reached for {key}: {limiter.rate_per_s:g} calls/s with bursts of "
                    f"{limiter.burst}; retry in {wait_s:.2f} s",
                )

        def unary(behaviour: Behaviour) -> Behaviour:
            async def run(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await admitted(context)
                return await behaviour(request, context)

            return run

        def stream(behaviour: Behaviour) -> Behaviour:
            async def run(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                await admitted(context)
                async for item in behaviour(request, context):
                    yield item

            return run

        return same_kind(handler, unary, stream)


def _kind(full_method: str) -> tuple[bool, bool] | None:
    """(client streaming, server streaming) of a method from the protobuf descriptor pool; None if unknown."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{method}")
    except KeyError:
        return None
    return descriptor.client_streaming, descriptor.server_streaming


def _refusal(kind: tuple[bool, bool], details: str) -> grpc.RpcMethodHandler:
    """A handler of the method's kind that answers RESOURCE_EXHAUSTED without reading the request."""

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await _refuse(context, 0.05, details)

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await _refuse(context, 0.05, details)
        yield  # pragma: no cover - makes this an async generator, as streaming handlers must be

    client_streaming, server_streaming = kind
    if client_streaming and server_streaming:
        return grpc.stream_stream_rpc_method_handler(stream)
    if client_streaming:
        return grpc.stream_unary_rpc_method_handler(unary)
    if server_streaming:
        return grpc.unary_stream_rpc_method_handler(stream)
    return grpc.unary_unary_rpc_method_handler(unary)


class ConcurrencyInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls beyond `max_concurrent` in flight with RESOURCE_EXHAUSTED; a stream holds its slot to the end.

    The decision is made before the rest of the chain runs (authentication included), so a flood costs a counter
    check per call, not a key derivation. A slot is taken before the chain and given back when the call ends,
    whatever the chain answered.
    """

    def __init__(self, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.max_concurrent = max_concurrent
        self.in_flight = 0

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        kind = None if _is_public(method) else _kind(method)
        if kind is None:  # probes, reflection and methods this server does not serve
            return await continuation(handler_call_details)
        if self.in_flight >= self.max_concurrent:
            log.info("rpc refused", method=method, code="RESOURCE_EXHAUSTED", reason="overloaded")
            count_rejection(method, "overloaded")
            return _refusal(kind, f"server busy: {self.max_concurrent} calls in flight; retry with backoff")
        # grpc.aio runs each call, interceptors and handler alike, in one task of its own: the slot is given back
        # when that task ends, however it ends (even cancelled before its handler started).
        self.in_flight += 1
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - grpc.aio always calls interceptors from the call's task
            self.in_flight -= 1
            return await continuation(handler_call_details)
        task.add_done_callback(self._release)
        return await continuation(handler_call_details)

    def _release(self, _: object) -> None:
        self.in_flight -= 1


def limit_interceptors(settings: LimitSettings) -> tuple[ConcurrencyInterceptor | None, RateLimitInterceptor | None]:
    """The interceptors `settings` asks for: (before authentication, after authentication)."""
    concurrency = ConcurrencyInterceptor(settings.max_concurrent) if settings.max_concurrent else None
    rate = (
        RateLimitInterceptor(RateLimiter(settings.rate_per_s, settings.burst, max_keys=settings.max_principals))
        if settings.rate_per_s
        else None
    )
    return concurrency, rate
