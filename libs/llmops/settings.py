"""Settings shared by every service, read from the environment (prefix `LLMOPS_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
