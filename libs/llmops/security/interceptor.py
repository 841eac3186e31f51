"""The grpc.aio server interceptor that authenticates every call, authorises it per method and hands handlers
the verified principal.

How the principal reaches handlers, two ways at once:

1. `llmops.security.context.current_principal()`, a context variable set inside the RPC's own task just before
   the handler runs. Nothing a client sends can set it; new code reads this.
2. The handler's `context.invocation_metadata()` is rewritten: the client's `x-llmops-tenant`, `-user`, `-groups`
   and `-clearance` headers are dropped and replaced with the verified principal's, and the credential headers
   are removed. Existing handlers that call `llmops.auth.principal_from_metadata(context.invocation_metadata(),
   …)` therefore see the verified principal without a change, and cannot forward or log the caller's secret.

Delegation: a caller holding one of `delegate_roles` (by default `service`, e.g. the gateway calling retrieval
for a user) may name the end user with the `x-llmops-*` headers; the handler's principal is then that user, with
clearance capped at the service's own, no roles, and `extra["delegated_by"]` naming the service. Authorisation is
always decided on the caller whose credentials were verified. Anyone else's `x-llmops-*` headers are ignored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from llmops.auth import (
    CLEARANCE_HEADER,
    GROUPS_HEADER,
    TENANT_HEADER,
    USER_HEADER,
    Principal,
    principal_from_metadata,
    principal_metadata,
)
from llmops.errors import DomainError, InvalidArgument
from llmops.grpc_handlers import same_kind
from llmops.grpc_server import status_for
from llmops.logging import get_logger
from llmops.observability.metrics import count_rejection
from llmops.security.api_keys import TENANT_PATTERN
from llmops.security.context import Authenticated, reset_authentication, set_authentication
from llmops.security.credentials import CREDENTIAL_HEADERS, Authenticator, Metadata
from llmops.security.roles import PLATFORM_POLICY, AccessPolicy, Role

log = get_logger(__name__)

MAX_METADATA_BYTES = 8 * 1024
_TENANT = re.compile(TENANT_PATTERN)
PRINCIPAL_HEADERS = frozenset({TENANT_HEADER, USER_HEADER, GROUPS_HEADER, CLEARANCE_HEADER})


def metadata_bytes(metadata: Metadata) -> int:
    """Size of the call's metadata: the sum of its keys' and values' lengths in bytes."""
    return sum(len(k.encode()) + len(v if isinstance(v, bytes) else v.encode()) for k, v in metadata)


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Authenticates, authorises and passes on the verified principal; see the module docstring.

    Put it after `ErrorMappingInterceptor` in the server's list. Refusals: metadata over `max_metadata_bytes` →
    INVALID_ARGUMENT; no or bad credentials → UNAUTHENTICATED; a role missing → PERMISSION_DENIED naming the roles
    that would do. A refused request's message is never deserialised. Public methods (health, reflection) pass
    without credentials.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        policy: AccessPolicy = PLATFORM_POLICY,
        *,
        max_metadata_bytes: int = MAX_METADATA_BYTES,
        delegate_roles: frozenset[str] = frozenset({Role.SERVICE.value}),
    ) -> None:
        self._authenticator = authenticator
        self._policy = policy
        self._max_metadata_bytes = max_metadata_bytes
        self._delegate_roles = delegate_roles

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        metadata = [(str(k), v) for k, v in handler_call_details.invocation_metadata or ()]
        size = metadata_bytes(metadata)
        if size > self._max_metadata_bytes:
            log.info("rpc refused", method=method, code="INVALID_ARGUMENT", metadata_bytes=size)
            return _refusing(
                handler,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request metadata is {size} bytes; the limit is {self._max_metadata_bytes}",
            )
        if self._policy.is_public(method):
            return handler
        try:
            caller = await self._authenticator.authenticate(metadata)
            self._policy.authorize(caller, method)
            principal = self._acting_for(caller, metadata)
        except DomainError as exc:
            code = status_for(exc)
            log.info("rpc refused", method=method, code=code.name, reason=str(exc))
            count_rejection(method, code.name.lower())
            return _refusing(handler, code, str(exc))
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("authentication failed", method=method, reference=reference)
            return _refusing(
                handler, grpc.StatusCode.INTERNAL, f"internal error; reference {reference} in the server log"
            )
        visible = [(k, v) for k, v in metadata if k.lower() not in PRINCIPAL_HEADERS | CREDENTIAL_HEADERS]
        visible.extend(principal_metadata(principal))
        return _authenticated(handler, Authenticated(principal=principal, caller=caller), tuple(visible))

    def _acting_for(self, caller: Principal, metadata: Metadata) -> Principal:
        """The caller, or the end user a delegating caller names in the `x-llmops-*` headers."""
        if not self._delegate_roles & set(caller.roles):
            return caller
        if not any(k.lower() == TENANT_HEADER for k, _ in metadata):
            return caller
        named = principal_from_metadata(metadata, caller.tenant)
        if not _TENANT.match(named.tenant):
            raise InvalidArgument(f"{TENANT_HEADER} must be 1-64 letters, digits, '-' or '_'")
        clearance = min(named.clearance, caller.clearance, key=lambda c: c.rank)
        return Principal(
            tenant=named.tenant,
            subject=named.subject,
            groups=named.groups,
            clearance=clearance,
            extra={"delegated_by": caller.subject},
        )


class _AuthenticatedContext:
    """The handler's servicer context with the rewritten metadata; everything else is the real context's."""

    def __init__(self, inner: Any, metadata: tuple[tuple[str, str | bytes], ...]) -> None:
        self._inner = inner
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The client's metadata without credentials, with the verified principal's headers."""
        return self._metadata

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _refusing(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, details: str) -> Any:
    """A handler that answers `code` at once; the request stays raw bytes, never parsed."""

    def unary(_: object) -> Callable[..., Awaitable[Any]]:
        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(code, details)

        return refuse

    def stream(_: object) -> Callable[..., AsyncIterator[Any]]:
        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await context.abort(code, details)
            yield  # pragma: no cover - makes this an async generator, as streaming handlers must be

        return refuse

    return same_kind(handler, unary, stream, deserialize=False)


def _authenticated(
    handler: grpc.RpcMethodHandler, authenticated: Authenticated, metadata: tuple[tuple[str, str | bytes], ...]
) -> Any:
    """`handler` run with the principal set in the context variable and the rewritten metadata."""

    def unary(behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def run(request: Any, context: grpc.aio.ServicerContext) -> Any:
            token = set_authentication(authenticated)
            try:
                return await behaviour(request, _AuthenticatedContext(context, metadata))
            finally:
                reset_authentication(token)

        return run

    def stream(behaviour: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def run(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            # No reset: an async generator may be closed from another context; the RPC's task ends with the call.
            set_authentication(authenticated)
            async for item in behaviour(request, _AuthenticatedContext(context, metadata)):
                yield item

        return run

    return same_kind(handler, unary, stream, deserialize=True)
