"""Audit settings (env prefix `LLMOPS_AUDIT_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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

    def resolved_db_path(self) -> Path:
        """The SQLite path, defaulted under the data directory."""
        return self.db_path or self.common.data_dir / "audit.sqlite3"
