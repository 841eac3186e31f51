"""Guardrails settings (env prefix `LLMOPS_GUARDRAILS_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings


class Settings(BaseSettings):
    """Everything the guardrails service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_GUARDRAILS_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50056))
    policies_dir: Path | None = None
    """Directory of policy YAML files (one per tenant/application); default `<data_dir>/policies`."""
    reload_interval_s: float = Field(default=2.0, gt=0)
    """How often changed policy files are picked up."""
    embedding_url: str = ""
    """The embedding service, for policies with topic allow/deny lists (empty: such policies fail closed)."""
    embed_timeout_s: float = Field(default=5.0, gt=0)
    budget_s: float = Field(default=2.0, gt=0)
    """The most one check may take (scanners and topic match together); past it the check fails, closed."""

    def resolved_policies_dir(self) -> Path:
        return self.policies_dir or self.common.data_dir / "policies"
