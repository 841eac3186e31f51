"""Feedback settings (env prefix `LLMOPS_FEEDBACK_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings


class Settings(BaseSettings):
    """Everything the feedback service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_FEEDBACK_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50057))
    db_path: Path | None = None
    """SQLite file of interactions and feedback; default `<data_dir>/feedback.sqlite3`."""

    def resolved_db_path(self) -> Path:
        return self.db_path or self.common.data_dir / "feedback.sqlite3"
