"""Outgoing gRPC channels: the one place that decides credentials, TLS, deadlines and tracing of internal calls.

Every service dials its peers with `open_channel`, so a call from the gateway to retrieval carries:

- the service's own credential (`LLMOPS_CLIENT_API_KEY`, role `service`) unless the caller set one, so the callee
  lets it speak for the end user named in the `x-llmops-*` headers;
- a deadline no later than the one of the request being served (propagation): a client that gave the gateway
  2 s never makes retrieval work for 10;
- TLS, with a client certificate for mutual TLS, when `LLMOPS_TLS_*` is set;
- the trace context (`traceparent`), so one request is one trace across services.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from contextvars import ContextVar, Token
from typing import Any

import grpc

from llmops.auth import API_KEY_HEADER, CREDENTIAL_HEADERS
from llmops.observability.tracing import client_interceptors
from llmops.settings import GrpcSettings, TlsSettings

_NOT_IN_RPC = -1.0
_deadline: ContextVar[float | None] = ContextVar("llmops_incoming_deadline", default=_NOT_IN_RPC)
"""Monotonic deadline of the RPC being served; None when it has none; `_NOT_IN_RPC` outside any RPC."""


def bind_incoming_deadline(time_remaining_s: float | None) -> Token[float | None]:
    """Records the deadline of the RPC being served (from `context.time_remaining()`); returns the reset token."""
    deadline = None if time_remaining_s is None else time.monotonic() + time_remaining_s
    return _deadline.set(deadline)


def reset_incoming_deadline(token: Token[float | None]) -> None:
    """Undoes `bind_incoming_deadline`."""
    _deadline.reset(token)


def in_rpc() -> bool:
    """Whether the current task is serving an RPC (its deadline was bound by the server)."""
    return _deadline.get() != _NOT_IN_RPC


def remaining_s() -> float | None:
    """Seconds left before the deadline of the RPC being served; None when it has none (or none is served)."""
    deadline = _deadline.get()
    if deadline is None or deadline == _NOT_IN_RPC:
        return None
    return max(0.0, deadline - time.monotonic())


def propagated_timeout(timeout_s: float | None) -> float | None:
    """The timeout of an outgoing call: its own, capped by what is left of the incoming call's deadline."""
    left = remaining_s()
    if left is None:
        return timeout_s
    return left if timeout_s is None else min(timeout_s, left)


Metadata = Sequence[tuple[str, str | bytes]]


def outgoing_metadata(metadata: Metadata | None, api_key: str | None) -> grpc.aio.Metadata:
    """The call's metadata plus this service's credential, unless the call already carries one."""
    pairs = list(metadata or ())
    if api_key and not any(k.lower() in CREDENTIAL_HEADERS for k, _ in pairs):
        pairs.append((API_KEY_HEADER, api_key))
    return grpc.aio.Metadata(*pairs)


class _OutgoingCall:
    """Adds the service credential and caps the timeout by the incoming deadline."""

    def __init__(self, api_key: str | None) -> None:
        self._api_key = api_key

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=propagated_timeout(details.timeout),
            metadata=outgoing_metadata(details.metadata, self._api_key),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )


# One class per call kind: a grpc.aio channel files each interceptor under the first kind it is an instance of.
class _UnaryUnary(_OutgoingCall, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(
        self, continuation: Callable[..., Awaitable[Any]], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _UnaryStream(_OutgoingCall, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(
        self, continuation: Callable[..., Awaitable[Any]], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamUnary(_OutgoingCall, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any],
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStream(_OutgoingCall, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any],
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


def outgoing_call_interceptors(api_key: str | None) -> list[grpc.aio.ClientInterceptor]:
    """Credential and deadline interceptors for all four call kinds."""
    return [kind(api_key) for kind in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials:
    """TLS credentials for dialling a peer: trust `ca_file` (system roots if unset), present our certificate."""
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca_file.read_bytes() if tls.ca_file else None,
        private_key=tls.key_file.read_bytes() if tls.key_file else None,
        certificate_chain=tls.cert_file.read_bytes() if tls.cert_file else None,
    )


def open_channel(
    target: str,
    settings: GrpcSettings,
    *,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """A channel to another platform service with this service's credential, deadline propagation, trace context
    and TLS."""
    api_key = settings.client.api_key.get_secret_value() if settings.client.api_key else None
    chain = [*outgoing_call_interceptors(api_key), *client_interceptors(), *interceptors]
    opts = [("grpc.max_receive_message_length", settings.max_message_bytes), *options]
    if settings.tls.enabled:
        if settings.tls.server_name_override:
            opts.append(("grpc.ssl_target_name_override", settings.tls.server_name_override))
        return grpc.aio.secure_channel(target, channel_credentials(settings.tls), options=opts, interceptors=chain)
    return grpc.aio.insecure_channel(target, options=opts, interceptors=chain)
