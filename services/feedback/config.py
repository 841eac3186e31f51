"""Feedback settings (env prefix `LLMOPS_FEEDBACK_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings
from services.feedback.monitoring import MonitorSettings


class Settings(BaseSettings):
    """Everything the feedback service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_FEEDBACK_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50057))
    gateway_url: str = "127.0.0.1:50051"
    """The gateway evaluations ask through (the same path users take)."""
    ask_timeout_s: float = Field(default=120.0, gt=0)
    eval_concurrency: int = Field(default=4, ge=1, le=64)
    inference_url: str = ""
    """The inference service's prompt registry: when set, a quality alarm on a prompt version that took
    `production` within `rollback_window_h` rolls the label back (automatic rollback)."""
    rollback_window_h: float = Field(default=24.0, gt=0)
    drift: MonitorSettings = Field(default_factory=MonitorSettings)
    drift_save_interval_s: float = Field(default=60.0, gt=0)
    """How often the drift detectors' state is saved (and on stop): a crash loses at most this much."""
    """Drift detector parameters (`LLMOPS_FEEDBACK_DRIFT__EMBEDDING_WINDOW=…`)."""
    embedding_url: str = ""
    """The embedding service, to watch query drift (MMD over query embeddings); empty: latency, cost and feedback
    drift only."""
    golden_dir: Path | None = None
    """Operator golden sets (`<name>.jsonl`), searched before the built-in ones; default `<data_dir>/golden`."""
    db_path: Path | None = None
    """SQLite file of interactions and feedback; default `<data_dir>/feedback.sqlite3`."""

    def resolved_db_path(self) -> Path:
        return self.db_path or self.common.data_dir / "feedback.sqlite3"
