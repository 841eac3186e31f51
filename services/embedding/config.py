"""Embedding settings (env prefix `LLMOPS_EMBEDDING_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings
from services.embedding.adapters.sentence_model import Precision


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
    """Texts per forward pass (sentence-transformers sorts each micro-batch by length before splitting it)."""
    micro_batch_texts: int = Field(default=128, gt=0)
    """Most texts one micro-batch gathers from concurrent chunk events and queries."""
    micro_batch_wait_ms: float = Field(default=5.0, ge=0)
    """Longest a text waits for its micro-batch to fill before the batch runs anyway."""
    max_pending_texts: int = Field(default=2048, gt=0)
    """Texts queued for the model before consumers wait (back-pressure instead of unbounded memory)."""
    concurrent_events: int = Field(default=4, gt=0)
    """Chunk events embedded at once; their texts share micro-batches."""
    precision: Precision = "auto"
    """Matrix-product precision: bf16 where the CPU has it in hardware (auto), else fp32; or force either."""
    torch_threads: int | None = None
    """CPU threads for the model; default: torch's choice."""

    def resolved_qdrant_path(self) -> Path:
        """Local-mode storage path."""
        return self.qdrant_path or self.common.data_dir / "qdrant"
