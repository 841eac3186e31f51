"""Settings shared by every service, read from the environment (prefix `LLMOPS_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.events import Classification


class TelemetrySettings(BaseSettings):
    """Metrics and traces (env prefix `LLMOPS_TELEMETRY_`)."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_TELEMETRY_", extra="ignore")

    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Port of the Prometheus `/metrics` endpoint; None = not served, 0 = a free port."""
    metrics_host: str = "127.0.0.1"
    """Interface of the metrics endpoint; `0.0.0.0` in containers."""
    traces_exporter: Literal["none", "otlp", "jsonl"] = "none"
    """Where finished spans go; trace context propagates (gRPC metadata, NATS headers) either way."""
    otlp_endpoint: str = "http://127.0.0.1:4317"
    """OTLP/gRPC collector for `traces_exporter=otlp`."""
    traces_file: Path | None = None
    """JSON-lines file for `traces_exporter=jsonl` (one span per line; several processes may share it)."""
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of new traces recorded (parent-based: a sampled caller's trace is always continued)."""

    @model_validator(mode="after")
    def _file_for_jsonl(self) -> TelemetrySettings:
        if self.traces_exporter == "jsonl" and self.traces_file is None:
            raise ValueError("LLMOPS_TELEMETRY_TRACES_EXPORTER=jsonl needs LLMOPS_TELEMETRY_TRACES_FILE")
        return self


class CommonSettings(BaseSettings):
    """Platform-wide settings every service reads."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    """NATS server (or comma-separated cluster) URL."""
    data_dir: Path = Path(".llmops")
    """Where embedded stores (SQLite, Qdrant local) keep their files."""
    log_level: str = "INFO"
    """Minimum level of log records."""
    log_format: Literal["auto", "console", "json"] = "auto"
    """`auto` is console on a TTY and JSON otherwise."""
    default_tenant: str = "default"
    """Tenant used for callers that carry none (embedded, single-tenant mode)."""
    max_deliver: int = Field(default=5, ge=1)
    """Deliveries of one event before it goes to the dead-letter subject."""
    stream_replicas: int = Field(default=1, ge=1, le=5)
    """JetStream replicas per stream: 1 embedded, 3 on the production cluster."""
    ack_wait_s: float = Field(default=30.0, gt=0)
    """Seconds JetStream waits for an ack before redelivering."""
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    """Metrics endpoint and trace export."""


class JwtSettings(BaseModel):
    """How bearer tokens are verified; nested in a service's settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(min_length=1)
    """Required `iss`."""
    audience: str = Field(min_length=1)
    """Required `aud` (one of the token's audiences)."""
    hs256_secret: SecretStr | None = None
    """Shared secret for HS256, at least 32 bytes; None = HS256 not accepted."""
    rs256_public_key: str | None = None
    """PEM RSA public key for RS256."""
    jwks: dict[str, Any] | None = None
    """A JWKS document (`{"keys": [...]}`) for RS256, keys picked by `kid`; used instead of `rs256_public_key`."""
    leeway_s: float = Field(default=30.0, ge=0, le=300)
    """Clock skew allowed on `exp`, `nbf` and `iat`."""
    required_claims: tuple[str, ...] = ("exp", "iat", "sub")
    """Claims a token must carry besides `iss`, `aud` and the tenant claim."""
    tenant_claim: str = "tenant"
    """Claim naming the caller's tenant (letters, digits, `-`, `_`)."""
    roles_claim: str = "roles"
    """Claim with the caller's roles: a list or a space-separated string; unknown roles are ignored."""
    groups_claim: str = "groups"
    """Claim with the caller's groups: a list or a comma-separated string."""
    clearance_claim: str = "clearance"
    """Claim with the caller's clearance (public, internal, confidential, restricted)."""
    default_clearance: Classification = Classification.PUBLIC
    """Clearance when the token has none: least privilege unless the operator says otherwise."""

    @model_validator(mode="after")
    def _some_key(self) -> JwtSettings:
        if self.hs256_secret is None and self.rs256_public_key is None and self.jwks is None:
            raise ValueError("configure hs256_secret, rs256_public_key or jwks")
        if self.rs256_public_key is not None and self.jwks is not None:
            raise ValueError("configure rs256_public_key or jwks, not both")
        if self.hs256_secret is not None and len(self.hs256_secret.get_secret_value().encode()) < 32:
            raise ValueError("hs256_secret must be at least 32 bytes (RFC 7518 §3.2)")
        return self


class AuthSettings(BaseSettings):
    """Who may call a service's gRPC port (env prefix `LLMOPS_AUTH_`, shared by every service).

    Off by default (the embedded `llmops dev` mode takes the principal from `x-llmops-*` headers); when on, every
    RPC needs an API key or a JWT, and the role the method requires (llmops.security.roles).
    """

    model_config = SettingsConfigDict(env_prefix="LLMOPS_AUTH_", env_nested_delimiter="__", extra="ignore")

    enabled: bool = False
    api_keys_file: Path | None = None
    """JSON file of hashed API key records (llmops.security.JsonFileKeyStore); never plaintext keys."""
    jwt: JwtSettings | None = None
    """Bearer tokens: issuer, audience and the HS256 secret or RS256 key/JWKS."""
    max_metadata_bytes: int = Field(default=8192, ge=1024, le=65536)


class ClientAuthSettings(BaseSettings):
    """The credential this service presents on its own calls to other services (env prefix `LLMOPS_CLIENT_`).

    In production it is an API key with the `service` role, so the callee lets the caller speak for the end user
    it names in the `x-llmops-*` headers (llmops.security.interceptor). Unset: calls go without a credential.
    """

    model_config = SettingsConfigDict(env_prefix="LLMOPS_CLIENT_", extra="ignore")

    api_key: SecretStr | None = None
    """Sent as `x-api-key` on every outgoing gRPC call."""


class TlsSettings(BaseSettings):
    """TLS for gRPC, server and client side (env prefix `LLMOPS_TLS_`); off unless `cert_file` is set.

    Server: presents `cert_file`/`key_file`; with `ca_file` it requires client certificates signed by that CA
    (mutual TLS). Client: trusts `ca_file` (system roots when unset) and presents `cert_file`/`key_file`.
    """

    model_config = SettingsConfigDict(env_prefix="LLMOPS_TLS_", extra="ignore")

    cert_file: Path | None = None
    """PEM certificate chain of this service."""
    key_file: Path | None = None
    """PEM private key of `cert_file`."""
    ca_file: Path | None = None
    """PEM CA bundle: the roots a peer's certificate must chain to."""
    require_client_cert: bool = True
    """With `ca_file`: refuse clients without a certificate signed by it."""
    server_name_override: str | None = None
    """Expected server name when it differs from the dialled host (tests, IP addresses)."""

    @property
    def enabled(self) -> bool:
        """Whether TLS is configured."""
        return self.cert_file is not None or self.ca_file is not None

    @model_validator(mode="after")
    def _pairs(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set LLMOPS_TLS_CERT_FILE and LLMOPS_TLS_KEY_FILE together")
        return self


class LimitSettings(BaseSettings):
    """Admission limits on a service's gRPC port (env prefix `LLMOPS_LIMITS_`).

    Over a limit a call is answered RESOURCE_EXHAUSTED at once instead of queueing: the client backs off.
    """

    model_config = SettingsConfigDict(env_prefix="LLMOPS_LIMITS_", extra="ignore")

    rate_per_s: float | None = Field(default=None, gt=0)
    """Sustained calls per second per principal (tenant + subject); None = no rate limit."""
    burst: int = Field(default=20, ge=1)
    """Calls a principal may make at once before the rate applies (token bucket size)."""
    max_concurrent: int | None = Field(default=None, ge=1)
    """Calls in flight on this server at once; None = unbounded."""
    max_principals: int = Field(default=100_000, ge=1)
    """Token buckets kept; the least recently used are dropped (their owners start full again)."""


class GrpcSettings(BaseSettings):
    """Where a service's gRPC server listens; embedded in each service's settings."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = "127.0.0.1"
    """Interface to bind; `0.0.0.0` in containers."""
    port: int = Field(default=0, ge=0, le=65535)
    """TCP port; 0 picks a free one."""
    grace_s: float = 5.0
    """Seconds in-flight RPCs get to finish on shutdown."""
    max_message_bytes: int = 16 * 1024 * 1024
    """Largest request or response message."""
    auth: AuthSettings = Field(default_factory=AuthSettings)
    client: ClientAuthSettings = Field(default_factory=ClientAuthSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
