"""Finding and calling a running platform from the CLI."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import grpc

from llmops.auth import API_KEY_HEADER, AUTHORIZATION_HEADER, CREDENTIAL_HEADERS
from llmops.cli.stack import Endpoints, StackPorts
from llmops.grpc_client import channel_credentials
from llmops.settings import TlsSettings

API_KEY_ENV = "LLMOPS_API_KEY"
TOKEN_ENV = "LLMOPS_TOKEN"


def data_dir() -> Path:
    """The embedded platform's data directory (`LLMOPS_DATA_DIR`, default `.llmops`)."""
    return Path(os.environ.get("LLMOPS_DATA_DIR", ".llmops"))


def service_address(service: str, override: str | None = None) -> str:
    """host:port of a service: the flag, else `LLMOPS_<SERVICE>_URL`, else a running `llmops dev`, else the default."""
    if override:
        return override
    if env := os.environ.get(f"LLMOPS_{service.upper()}_URL"):
        return env
    saved = data_dir() / "endpoints.json"
    if saved.is_file():
        return Endpoints.load(saved).grpc[service]
    return f"127.0.0.1:{StackPorts().services[service]}"


def credential_metadata(environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The CLI's credential: `LLMOPS_API_KEY` as `x-api-key`, or `LLMOPS_TOKEN` as a bearer token (not both)."""
    env = os.environ if environ is None else environ
    key, token = env.get(API_KEY_ENV, "").strip(), env.get(TOKEN_ENV, "").strip()
    if key and token:
        raise ValueError(f"set {API_KEY_ENV} or {TOKEN_ENV}, not both")
    if key:
        return [(API_KEY_HEADER, key)]
    if token:
        return [(AUTHORIZATION_HEADER, f"Bearer {token}")]
    return []


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class _Credentials(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds the CLI's credential to every call that does not carry one."""

    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self._metadata = metadata

    def _details(self, details: Any) -> _CallDetails:
        pairs = list(details.metadata or ())
        if not any(k.lower() in CREDENTIAL_HEADERS for k, _ in pairs):
            pairs.extend(self._metadata)
        return _CallDetails(
            details.method,
            details.timeout,
            pairs,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]) -> Any:
        return continuation(self._details(details), requests)


def open_cli_channel(address: str) -> grpc.Channel:
    """A channel to `address` with the caller's credential (`LLMOPS_API_KEY` / `LLMOPS_TOKEN`) and TLS when
    `LLMOPS_TLS_CA_FILE` (and for mutual TLS `LLMOPS_TLS_CERT_FILE`/`KEY_FILE`) are set."""
    tls = TlsSettings()
    channel = (
        grpc.secure_channel(
            address,
            channel_credentials(tls),
            options=[("grpc.ssl_target_name_override", tls.server_name_override)] if tls.server_name_override else None,
        )
        if tls.enabled
        else grpc.insecure_channel(address)
    )
    metadata = credential_metadata()
    return grpc.intercept_channel(channel, _Credentials(metadata)) if metadata else channel
