"""Gateway settings (env prefix `LLMOPS_GATEWAY_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.prompts.builtin import RAG_PROMPT
from llmops.settings import CommonSettings, GrpcSettings


class Settings(BaseSettings):
    """Everything the gateway reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_GATEWAY_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50051))
    retrieval_url: str = "127.0.0.1:50054"
    """Retrieval service (host:port)."""
    inference_url: str = "127.0.0.1:50055"
    """Inference service (host:port)."""
    retrieval_timeout_s: float = Field(default=10.0, gt=0)
    """Deadline of the search call."""
    generation_timeout_s: float = Field(default=120.0, gt=0)
    """Deadline of the generation call."""
    max_query_chars: int = Field(default=2000, gt=0)
    """Longest question accepted."""
    default_top_k: int = Field(default=4, gt=0)
    """Sources retrieved when the caller asks for 0."""
    hybrid_search: bool = True
    prompt_name: str = RAG_PROMPT
    """Registered prompt answers are generated with (its label or A/B split picks the version)."""
    """Fuse dense and term (sparse) retrieval by reciprocal rank; False = dense only."""
    default_max_tokens: int = Field(default=200, gt=0)
    """Answer length budget when the caller asks for 0."""
