"""The TensorRT-LLM ensemble's tensor interface, declared once.

The inference client speaks it, the embedded dev model serves it, and a test checks the production model
repository under infra/triton/ declares the same names and types.
"""

from __future__ import annotations

from dataclasses import dataclass

ENSEMBLE_MODEL = "ensemble"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the ensemble: name, Triton datatype, dims without the batch dimension."""

    name: str
    datatype: str
    dims: tuple[int, ...] = (1,)
    optional: bool = True


INPUTS: tuple[TensorSpec, ...] = (
    TensorSpec("text_input", "BYTES", (1,), optional=False),
    TensorSpec("max_tokens", "INT32", (1,), optional=False),
    TensorSpec("stream", "BOOL"),
    TensorSpec("temperature", "FP32"),
    TensorSpec("top_p", "FP32"),
    TensorSpec("top_k", "INT32"),
    TensorSpec("repetition_penalty", "FP32"),
    TensorSpec("random_seed", "UINT64"),
    TensorSpec("stop_words", "BYTES", (-1,)),
    TensorSpec("exclude_input_in_output", "BOOL"),
    TensorSpec("return_log_probs", "BOOL"),
    TensorSpec("return_perf_metrics", "BOOL"),
)

PERF_METRIC_OUTPUTS: tuple[str, ...] = (
    "arrival_time_ns",
    "first_scheduled_time_ns",
    "first_token_time_ns",
    "last_token_time_ns",
    "kv_cache_reused_blocks",
    "kv_cache_alloc_new_blocks",
)
"""Per-request perf metrics TensorRT-LLM returns when `return_perf_metrics` is set."""

OUTPUTS: tuple[TensorSpec, ...] = (
    TensorSpec("text_output", "BYTES", (-1,), optional=False),
    TensorSpec("output_log_probs", "FP32", (-1, -1)),
    TensorSpec("cum_log_probs", "FP32", (-1,)),
    *(TensorSpec(name, "INT32" if name.startswith("kv_cache") else "INT64", (1,)) for name in PERF_METRIC_OUTPUTS),
)
