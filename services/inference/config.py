"""Inference settings (env prefix `LLMOPS_INFERENCE_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.settings import CommonSettings, GrpcSettings
from llmops.trtllm import ENSEMBLE_MODEL


class Settings(BaseSettings):
    """Everything the inference service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_INFERENCE_", env_nested_delimiter="__", extra="ignore")

    common: CommonSettings = Field(default_factory=CommonSettings)
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50055))
    triton_url: str = "127.0.0.1:8001"
    """Triton's gRPC endpoint (host:port)."""
    model_name: str = ENSEMBLE_MODEL
    """Triton model speaking the TensorRT-LLM ensemble interface."""
    served_model: str = "SmolLM2-135M-Instruct"
    """The model behind it, as reported in responses and events."""
    tokenizer_gguf: Path | None = None
    """GGUF file whose vocabulary counts tokens exactly; unset = estimate (4 characters per token)."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Deadline of one generation on Triton."""
    max_tokens: int = Field(default=1024, gt=0)
    """Largest `max_tokens` a caller may ask for."""
    default_max_tokens: int = Field(default=256, gt=0)
    """`max_tokens` when the caller sends 0."""
    repetition_penalty: float = Field(default=1.0, ge=1.0, le=3.0)
    """Repetition penalty when the caller sends 0; small models loop without one (dev uses 1.15)."""
    prompt_cost_per_1k: float = Field(default=0.0, ge=0)
    """USD per 1,000 prompt tokens."""
    completion_cost_per_1k: float = Field(default=0.0, ge=0)
    """USD per 1,000 completion tokens."""
