"""Ingestion settings (env prefix `LLMOPS_INGESTION_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.pii.masking import MaskingPolicy
from llmops.settings import CommonSettings, GrpcSettings


class Settings(BaseSettings):
    """Everything the ingestion service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_INGESTION_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50052))
    db_path: Path | None = None
    """SQLite file of document records; default `<data_dir>/ingestion.sqlite3`."""
    max_document_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    """Largest document sent whole with `Ingest` (held in memory)."""
    max_stream_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    """Largest document streamed with `IngestStream` (spooled to disk as it arrives)."""
    spool_dir: Path | None = None
    """Where streamed uploads spill to disk; default `<data_dir>/spool`."""
    chunk_words: int = Field(default=160, gt=0)
    """Words per chunk when no tokenizer is available."""
    chunk_overlap_words: int = Field(default=32, ge=0)
    """Words shared by consecutive chunks when no tokenizer is available."""
    chunk_tokens: int = Field(default=200, gt=0)
    """Embedding-model tokens per chunk (all-MiniLM-L6-v2 reads 256 including [CLS]/[SEP])."""
    chunk_overlap_tokens: int = Field(default=32, ge=0)
    """Tokens shared by consecutive chunks."""
    pii_default_policy: MaskingPolicy = MaskingPolicy.KEEP
    """Masking for datasets without their own policy: keep, mask, redact or pseudonymise."""
    pii_policies: dict[str, MaskingPolicy] = Field(default_factory=dict)
    """Per-dataset masking policy, e.g. LLMOPS_INGESTION_PII_POLICIES='{"hr": "pseudonymise"}'."""
    tokenizer_path: Path | None = None
    """tokenizer.json of the embedding model; default: the one bundled with all-MiniLM-L6-v2, if installed."""

    def resolved_spool_dir(self) -> Path:
        """Spool directory for streamed uploads, defaulted under the data directory."""
        return self.spool_dir or self.common.data_dir / "spool"

    def resolved_db_path(self) -> Path:
        """The SQLite path, defaulted under the data directory."""
        return self.db_path or self.common.data_dir / "ingestion.sqlite3"
