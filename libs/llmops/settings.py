"""Settings shared by every service, read from the environment (prefix `LLMOPS_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.events import Classification


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
