"""The grpc.aio server bootstrap every service uses: health, reflection, error mapping, graceful stop."""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from llmops.errors import BUS_UNREACHABLE, DomainError
from llmops.grpc_client import bind_incoming_deadline, reset_incoming_deadline
from llmops.grpc_handlers import same_kind
from llmops.logging import get_logger
from llmops.observability.metrics import MetricsInterceptor
from llmops.observability.tracing import TracingServerInterceptor
from llmops.settings import AuthSettings, GrpcSettings, TlsSettings

log = get_logger(__name__)

STATUS_CODES: dict[str, grpc.StatusCode] = {code.name: code for code in grpc.StatusCode}


def status_for(error: DomainError) -> grpc.StatusCode:
    """Maps a domain error to its gRPC status code."""
    return STATUS_CODES.get(error.status, grpc.StatusCode.INTERNAL)


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer, the generated function that adds it to a server, and its full service name."""

    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    service_name: str


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Turns domain errors into status codes with their message and logs every call once.

    Anything else becomes INTERNAL with a reference id the operator finds in the log, never a traceback
    sent to the caller.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        return same_kind(handler, lambda b: _wrap_unary(method, b), lambda b: _wrap_stream(method, b))


async def _abort_for(method: str, exc: BaseException, context: grpc.aio.ServicerContext, started: float) -> None:
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    if isinstance(exc, DomainError):
        code = status_for(exc)
        log.info("rpc", method=method, code=code.name, ms=elapsed_ms, error=str(exc))
        await context.abort(code, str(exc))
    if isinstance(exc, BUS_UNREACHABLE):
        log.warning("rpc", method=method, code="UNAVAILABLE", ms=elapsed_ms, error=type(exc).__name__)
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"the event bus (NATS) did not answer ({type(exc).__name__}); retry the request",
        )
    reference = uuid.uuid4().hex[:12]
    log.exception("rpc failed", method=method, code="INTERNAL", ms=elapsed_ms, reference=reference)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error; reference {reference} in the server log")


def _wrap_unary(method: str, behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        deadline = bind_incoming_deadline(context.time_remaining())
        try:
            response = await behaviour(request, context)
        except (DomainError, Exception) as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await _abort_for(method, exc, context, started)
            raise
        finally:
            reset_incoming_deadline(deadline)
        log.debug("rpc", method=method, code="OK", ms=round((time.perf_counter() - started) * 1000, 2))
        return response

    return wrapped


def _wrap_stream(method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behaviour):
        # Reader/writer style (`await context.write(...)`), e.g. the health service's Watch.
        return _wrap_unary(method, behaviour)

    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        # Not reset: an async generator may be closed from another context; the RPC's task ends with the call.
        bind_incoming_deadline(context.time_remaining())
        try:
            async for item in behaviour(request, context):
                yield item
        except (DomainError, Exception) as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await _abort_for(method, exc, context, started)
            raise
        log.debug("rpc", method=method, code="OK", ms=round((time.perf_counter() - started) * 1000, 2))

    return wrapped


def metrics_service_label(service_names: Iterable[str]) -> str:
    """The `service` label of a server's metrics: `gateway` for `llmops.api.gateway.v1.Assistant` (joined with
    `+` when one server hosts several platform services)."""
    labels = sorted({name.split(".")[2] if name.startswith("llmops.api.") else name for name in service_names})
    return "+".join(labels) or "grpc"


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    """The server's TLS credentials; with `ca_file` (and `require_client_cert`) clients need a certificate too."""
    if tls.cert_file is None or tls.key_file is None:
        raise ValueError("a TLS server needs LLMOPS_TLS_CERT_FILE and LLMOPS_TLS_KEY_FILE")
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=tls.ca_file.read_bytes() if tls.ca_file else None,
        require_client_auth=tls.ca_file is not None and tls.require_client_cert,
    )


class GrpcServer:
    """A running grpc.aio server with health and reflection for its services."""

    def __init__(
        self,
        bindings: Sequence[ServiceBinding],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_message_bytes: int = 16 * 1024 * 1024,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        tls: TlsSettings | None = None,
    ) -> None:
        """A server for `bindings`; every call is traced, logged with its error mapping and counted in metrics
        (in that order, outermost first), then passes `interceptors`."""
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # Above the auth interceptor's own limit, so oversized metadata gets its clear INVALID_ARGUMENT.
            ("grpc.max_metadata_size", 64 * 1024),
        ]
        observed = [
            TracingServerInterceptor(),  # outermost, so the error log lines carry the trace id
            ErrorMappingInterceptor(),
            MetricsInterceptor(metrics_service_label(b.service_name for b in bindings)),
        ]
        self._server = grpc.aio.server(interceptors=[*observed, *interceptors], options=options)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        for binding in bindings:
            binding.add_to_server(binding.servicer, self._server)
        self._names = [b.service_name for b in bindings]
        reflection.enable_server_reflection([*self._names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server)
        self.host = host
        address = f"{host}:{port}"
        if tls is not None and tls.enabled:
            self.port = self._server.add_secure_port(address, server_credentials(tls))
        else:
            self.port = self._server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot bind gRPC server to {host}:{port}")

    @classmethod
    def from_settings(cls, bindings: Sequence[ServiceBinding], settings: GrpcSettings) -> GrpcServer:
        """A server bound where a service's gRPC settings say, with TLS, limits and authentication as configured.

        Interceptor order (outermost first): concurrency bound, authentication, rate limit per verified principal.
        """
        from llmops.security.limits import limit_interceptors

        concurrency, rate = limit_interceptors(settings.limits)
        chain = [concurrency, auth_interceptor(settings.auth), rate]
        return cls(
            bindings,
            host=settings.host,
            port=settings.port,
            max_message_bytes=settings.max_message_bytes,
            interceptors=[i for i in chain if i is not None],
            tls=settings.tls,
        )

    @property
    def address(self) -> str:
        """host:port clients dial."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Starts serving and reports every service SERVING."""
        await self._server.start()
        for name in ["", *self._names]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def set_serving(self, service_name: str, serving: bool) -> None:
        """Reports one service SERVING or NOT_SERVING (e.g. while the model behind it is not ready)."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self._health.set(service_name, status)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Reports NOT_SERVING, then lets in-flight calls finish for up to `grace_s` seconds."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_s)

    async def wait(self) -> None:
        """Blocks until the server terminates."""
        await self._server.wait_for_termination()


def unimplemented_servicer(base: type[Any], service: Any, missing: str) -> Any:
    """A servicer whose every method answers UNIMPLEMENTED with `missing` (what is not built yet, and where).

    Args:
        base: the generated `...Servicer` class.
        service: the service's protobuf descriptor, e.g. `pb2.DESCRIPTOR.services_by_name["Feedback"]`.
        missing: the sentence callers see after "<Service>.<Method>: ".
    """
    from llmops.errors import Unimplemented

    def method(name: str, streaming: bool) -> Callable[..., Any]:
        message = f"{service.name}.{name}: {missing}"
        if streaming:

            async def stream(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                raise Unimplemented(message)
                yield  # pragma: no cover - makes this an async generator, as streaming handlers must be

            return stream

        async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            raise Unimplemented(message)

        return unary

    methods = {m.name: method(m.name, m.server_streaming) for m in service.methods}
    return type(f"Unimplemented{service.name}Servicer", (base,), methods)()


def auth_interceptor(settings: AuthSettings) -> grpc.aio.ServerInterceptor | None:
    """The authentication and role interceptor the settings ask for; None when auth is off."""
    if not settings.enabled:
        return None
    from llmops.security import (
        ApiKeyVerifier,
        AuthInterceptor,
        CredentialAuthenticator,
        JsonFileKeyStore,
        TokenVerifier,
    )

    if settings.api_keys_file is None and settings.jwt is None:
        raise ValueError(
            "LLMOPS_AUTH_ENABLED is set but no credentials are configured: "
            "set LLMOPS_AUTH_API_KEYS_FILE, LLMOPS_AUTH_JWT, or both"
        )
    keys = ApiKeyVerifier(JsonFileKeyStore(settings.api_keys_file).get) if settings.api_keys_file else None
    tokens = TokenVerifier(settings.jwt) if settings.jwt is not None else None
    return AuthInterceptor(
        CredentialAuthenticator(api_keys=keys, tokens=tokens), max_metadata_bytes=settings.max_metadata_bytes
    )
