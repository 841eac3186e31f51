"""Audit settings (env prefix `LLMOPS_AUDIT_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings


class Settings(BaseSettings):
    """Everything the audit service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_AUDIT_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    """Platform-wide settings (NATS URL, data directory, logging, delivery limits)."""
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50058))
    """Where the Audit gRPC server listens; port 50058 by default."""
    db_path: Path | None = None
    """SQLite file of the log; default `<data_dir>/audit.sqlite3`."""
    postgres_dsn: SecretStr = SecretStr("")
    """PostgreSQL instead of SQLite (production), e.g. `postgresql://audit:…@db:5432/llmops`."""
    postgres_schema: str = "llmops_audit"
    signing_key: SecretStr = SecretStr("")
    """Ed25519 private key for tree heads: PEM, or the 32-byte seed as 64 hex digits (from a secret store)."""
    signing_key_path: Path | None = None
    """Used when `signing_key` is empty: a PEM created on first start; default `<data_dir>/audit-signing-key.pem`."""
    retention_days: dict[str, int] = Field(default_factory=dict)
    """Per event type, how many days personal fields stay readable (keys destroyed after; records and proofs stay),
    e.g. `{"io.llmops.interactions.completed.v1": 90}`."""
    retention_interval_s: float = Field(default=3600.0, gt=0)
    commit_wait_ms: float = Field(default=2.0, ge=0)
    """How long a write waits for concurrent ones to share its transaction and tree head (group commit)."""

    def resolved_db_path(self) -> Path:
        """The SQLite path, defaulted under the data directory."""
        return self.db_path or self.common.data_dir / "audit.sqlite3"

    def resolved_key_path(self) -> Path:
        return self.signing_key_path or self.common.data_dir / "audit-signing-key.pem"
