"""Gateway settings (env prefix `LLMOPS_GATEWAY_`)."""

from __future__ import annotations

from pathlib import Path

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
    guardrails_url: str = "127.0.0.1:50056"
    """Guardrails service (host:port): every question and answer is checked."""
    guardrails: bool = True
    """Check questions and answers; off only for development without the guardrails service."""
    guardrails_timeout_s: float = Field(default=2.0, gt=0)
    guardrails_fail_open: bool = False
    """Answer unchecked when guardrails are unreachable (default: refuse with UNAVAILABLE)."""
    guardrails_application: str = "assistant"
    """Application name the guardrail policy is chosen by."""
    embedding_url: str = "127.0.0.1:50053"
    """Embedding service (host:port): the semantic cache embeds each question once and hands it to retrieval."""
    prompt_name: str = RAG_PROMPT
    """Registered prompt answers are generated with (its label or A/B split picks the version)."""
    """Fuse dense and term (sparse) retrieval by reciprocal rank; False = dense only."""
    default_max_tokens: int = Field(default=200, gt=0)
    """Answer length budget when the caller asks for 0."""
    semantic_cache: bool = True
    """Serve an earlier answer to a similar question under the same tenant, access scope, prompt version and model."""
    cache_similarity: float = Field(default=0.92, ge=0.5, le=1.0)
    """Cosine similarity two questions' embeddings need to share an answer."""
    cache_ttl_s: float = Field(default=86_400.0, gt=0)
    """Longest a cached answer lives; a new version or deletion of a cited document removes it sooner."""
    cache_purge_interval_s: float = Field(default=600.0, gt=0)
    """How often expired cached answers are deleted."""
    cache_qdrant_url: str | None = None
    """Qdrant server for the cache (shared by replicas); unset = local mode under the data directory."""
    cache_qdrant_path: Path | None = None
    """Local-mode storage; default `<data_dir>/gateway-cache`."""
    embedding_dimensions: int = Field(default=384, gt=0)
    """Vector size of the embedding model."""
    embed_timeout_s: float = Field(default=10.0, gt=0)
    """Deadline of the query-embedding call."""

    def resolved_cache_path(self) -> Path:
        """Local-mode storage path of the cache."""
        return self.cache_qdrant_path or self.common.data_dir / "gateway-cache"
