"""Retrieval settings (env prefix `LLMOPS_RETRIEVAL_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings


class Settings(BaseSettings):
    """Everything the retrieval service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_RETRIEVAL_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50054))
    embedding_url: str = "127.0.0.1:50053"
    """Embedding service (host:port) that turns queries into vectors."""
    qdrant_url: str | None = None
    """Qdrant server URL; unset = local mode under the data directory."""
    qdrant_path: Path | None = None
    """Local-mode storage; default `<data_dir>/qdrant`. Shared with embedding, so both run in one process."""
    dimensions: int = 384
    """Vector size of the embedding model."""
    default_top_k: int = Field(default=5, gt=0)
    """Hits returned when the caller asks for 0."""
    embed_timeout_s: float = 10.0
    """Deadline of the query-embedding call."""

    def resolved_qdrant_path(self) -> Path:
        """Local-mode storage path."""
        return self.qdrant_path or self.common.data_dir / "qdrant"
