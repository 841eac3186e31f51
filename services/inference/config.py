"""Inference settings (env prefix `LLMOPS_INFERENCE_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings
from llmops.trtllm import ENSEMBLE_MODEL
from services.inference.budget import Budget
from services.inference.routing import RouteRule

DEFAULT_MODEL = "default"


class ModelSettings(BaseModel):
    """One model behind Triton: where it is, what it is called, how to count and price its tokens."""

    triton_url: str = "127.0.0.1:8001"
    """Triton's gRPC endpoint (host:port)."""
    triton_model: str = ENSEMBLE_MODEL
    """Triton model speaking the TensorRT-LLM ensemble interface."""
    served_model: str = "SmolLM2-135M-Instruct"
    """The model's own name, as reported in responses and events."""
    tokenizer_gguf: Path | None = None
    """GGUF file whose vocabulary counts tokens exactly; unset = estimate (4 characters per token)."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Longest one generation may take on this model."""
    prompt_cost_per_1k: float = Field(default=0.0, ge=0)
    """USD per 1,000 prompt tokens."""
    completion_cost_per_1k: float = Field(default=0.0, ge=0)
    """USD per 1,000 completion tokens."""


class Settings(BaseSettings):
    """Everything the inference service reads from its environment.

    One model needs only the flat fields (`LLMOPS_INFERENCE_TRITON_URL`, …). Several models and routing
    rules are JSON: `LLMOPS_INFERENCE_MODELS='{"small": {...}, "large": {...}}'` and
    `LLMOPS_INFERENCE_ROUTES='[{"name": "hard", "min_complexity": 0.5, "models": ["large", "small"]},
    {"name": "default", "models": ["small", "large"]}]'`.
    """

    model_config = SettingsConfigDict(env_prefix="LLMOPS_INFERENCE_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50055))
    triton_url: str = "127.0.0.1:8001"
    """The single model's Triton endpoint, when `models` is not set."""
    promotion_gate_url: str = ""
    """The feedback service: when set, moving `production` to a version needs its evaluation to be not worse than
    production's on `promotion_golden_set` (rollbacks are never gated)."""
    promotion_golden_set: str = "cpython-docs-v1"
    model_name: str = ENSEMBLE_MODEL
    """The single model's Triton model name, when `models` is not set."""
    served_model: str = "SmolLM2-135M-Instruct"
    """The single model's own name, when `models` is not set."""
    tokenizer_gguf: Path | None = None
    """The single model's GGUF vocabulary, when `models` is not set."""
    prompt_cost_per_1k: float = Field(default=0.0, ge=0)
    """The single model's USD per 1,000 prompt tokens, when `models` is not set."""
    completion_cost_per_1k: float = Field(default=0.0, ge=0)
    """The single model's USD per 1,000 completion tokens, when `models` is not set."""
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    """Models by name; empty = one model named `default` from the flat fields."""
    routes: list[RouteRule] = Field(default_factory=list)
    """Routing rules, first match wins; empty = every request to the first model."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Deadline of one request across its fallbacks (a caller's shorter gRPC deadline wins)."""
    retry_attempts: int = Field(default=3, ge=1)
    """Calls to an UNAVAILABLE model before falling back, the first included."""
    retry_base_delay_s: float = Field(default=0.1, ge=0)
    retry_max_delay_s: float = Field(default=2.0, ge=0)
    breaker_failures: int = Field(default=5, ge=1)
    """Consecutive failures that open a model's circuit."""
    breaker_reset_s: float = Field(default=10.0, gt=0)
    """How long an open circuit waits before a trial call."""
    readiness_interval_s: float = Field(default=5.0, gt=0)
    """How often model readiness is checked for the health endpoint."""
    budgets: dict[str, Budget] = Field(default_factory=dict)
    """Daily token/cost budgets by tenant; `*` applies to tenants without their own."""
    max_tokens: int = Field(default=1024, gt=0)
    """Largest `max_tokens` a caller may ask for."""
    default_max_tokens: int = Field(default=256, gt=0)
    """`max_tokens` when the caller sends 0."""
    repetition_penalty: float = Field(default=1.0, ge=1.0, le=3.0)
    """Repetition penalty when the caller sends 0; small models loop without one (dev uses 1.15)."""

    def resolved_models(self) -> dict[str, ModelSettings]:
        """The configured models, or the single one the flat fields describe."""
        if self.models:
            return self.models
        single = ModelSettings(
            triton_url=self.triton_url,
            triton_model=self.model_name,
            served_model=self.served_model,
            tokenizer_gguf=self.tokenizer_gguf,
            timeout_s=self.timeout_s,
            prompt_cost_per_1k=self.prompt_cost_per_1k,
            completion_cost_per_1k=self.completion_cost_per_1k,
        )
        return {DEFAULT_MODEL: single}

    def resolved_routes(self) -> list[RouteRule]:
        """The routing rules, or one catch-all to every model in order (first model, then the others)."""
        return self.routes or [RouteRule(name="default", models=list(self.resolved_models()))]
