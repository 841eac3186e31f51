"""Embedding settings (env prefix `LLMOPS_EMBEDDING_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings


class Settings(BaseSettings):
    """Everything the embedding service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_EMBEDDING_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50053))
    qdrant_url: str | None = None
    """Qdrant server URL; unset = local mode under the data directory."""
    qdrant_path: Path | None = None
    """Local-mode storage; default `<data_dir>/qdrant`."""
    model_path: str | None = None
    """sentence-transformers model directory; default: the bundled all-MiniLM-L6-v2."""
    batch_size: int = Field(default=32, gt=0)
    """Texts per forward pass."""
    torch_threads: int | None = None
    """CPU threads for the model; default: torch's choice."""

    def resolved_qdrant_path(self) -> Path:
        """Local-mode storage path."""
        return self.qdrant_path or self.common.data_dir / "qdrant"
