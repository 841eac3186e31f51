"""Ingestion settings (env prefix `LLMOPS_INGESTION_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings


class Settings(BaseSettings):
    """Everything the ingestion service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_INGESTION_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50052))
    db_path: Path | None = None
    """SQLite file of document records; default `<data_dir>/ingestion.sqlite3`."""
    max_document_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    """Largest document accepted."""
    chunk_words: int = Field(default=160, gt=0)
    """Words per chunk."""
    chunk_overlap_words: int = Field(default=32, ge=0)
    """Words shared by consecutive chunks."""

    def resolved_db_path(self) -> Path:
        """The SQLite path, defaulted under the data directory."""
        return self.db_path or self.common.data_dir / "ingestion.sqlite3"
