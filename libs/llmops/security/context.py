"""The verified principal of the RPC being handled, set by `AuthInterceptor` and read by handlers.

A context variable rather than a header: grpc.aio runs each RPC in its own task, the interceptor sets the value
inside that task just before the handler runs, and nothing a client sends can reach it.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

from llmops.auth import Principal
from llmops.errors import Unauthenticated


@dataclass(frozen=True)
class Authenticated:
    """Who the handler acts for, and who proved it."""

    principal: Principal
    """The principal the request acts as: the caller, or the end user a `service` caller speaks for."""
    caller: Principal
    """The principal whose credentials were verified (the same as `principal` unless delegated)."""


_CURRENT: ContextVar[Authenticated | None] = ContextVar("llmops_authenticated", default=None)


def current_principal() -> Principal:
    """The principal of the RPC being handled.

    Raises:
        Unauthenticated: called outside an authenticated RPC (no `AuthInterceptor`, or a public method).
    """
    return current_authentication().principal


def current_caller() -> Principal:
    """The principal whose credentials the RPC carried (a service when it speaks for a user).

    Raises:
        Unauthenticated: called outside an authenticated RPC.
    """
    return current_authentication().caller


def current_authentication() -> Authenticated:
    """Both principals of the RPC being handled.

    Raises:
        Unauthenticated: called outside an authenticated RPC.
    """
    value = _CURRENT.get()
    if value is None:
        raise Unauthenticated("this call carries no verified credentials")
    return value


def set_authentication(value: Authenticated) -> Token[Authenticated | None]:
    """Sets the RPC's principals (the interceptor's job; tests may call it); returns the token to reset with."""
    return _CURRENT.set(value)


def reset_authentication(token: Token[Authenticated | None]) -> None:
    """Undoes `set_authentication`."""
    _CURRENT.reset(token)
