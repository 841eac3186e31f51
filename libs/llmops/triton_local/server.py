"""Binds a generation backend to PyTriton under the TensorRT-LLM ensemble names, unary and decoupled."""

from __future__ import annotations

import os
import sysconfig
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmops.triton_local.backends import Backend, GenerationRequest, Token
from llmops.trtllm import ENSEMBLE_MODEL, INPUTS, OUTPUTS, TensorSpec

UNARY_MODEL = f"{ENSEMBLE_MODEL}_unary"
"""The same model, not decoupled: for clients and tests of plain unary `infer`."""

_NUMPY_TYPES: dict[str, Any] = {
    "BYTES": bytes,
    "INT32": np.int32,
    "UINT64": np.uint64,
    "INT64": np.int64,
    "FP32": np.float32,
    "BOOL": np.bool_,
}

Request = Mapping[str, np.ndarray[Any, Any]]


def fix_python_stub_library_path() -> None:
    """Points Triton's Python-backend stub at this interpreter's libpython.

    The stub otherwise links the system libpython, which differs from a pyenv interpreter and fails model
    load with `'_thread.RLock' object has no attribute '_recursion_count'`.
    """
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        current = os.environ.get("LD_LIBRARY_PATH", "")
        os.environ["LD_LIBRARY_PATH"] = f"{libdir}:{current}" if current else libdir


def _scalar(request: Request, name: str, default: Any) -> Any:
    value = request.get(name)
    return default if value is None or value.size == 0 else value.reshape(-1)[0].item()


@dataclass(frozen=True)
class Flags:
    """The request's output switches."""

    stream: bool = False
    exclude_input: bool = False
    log_probs: bool = False
    perf_metrics: bool = False


def decode_request(triton_request: Request) -> tuple[GenerationRequest, Flags]:
    """Reads ensemble inputs into a generation request and its output switches."""
    request = dict(triton_request.items())  # PyTriton's Request is mapping-like but has no .get()
    prompt = request["text_input"].reshape(-1)[0]
    stop = request.get("stop_words")
    generation = GenerationRequest(
        prompt=prompt.decode() if isinstance(prompt, bytes) else str(prompt),
        max_tokens=int(_scalar(request, "max_tokens", 64)),
        temperature=float(_scalar(request, "temperature", 0.0)),
        top_p=float(_scalar(request, "top_p", 1.0)),
        top_k=int(_scalar(request, "top_k", 0)),
        seed=int(_scalar(request, "random_seed", 0)),
        repetition_penalty=float(_scalar(request, "repetition_penalty", 1.0)),
        stop_words=[w.decode() if isinstance(w, bytes) else str(w) for w in stop.reshape(-1)]
        if stop is not None
        else [],
    )
    flags = Flags(
        stream=bool(_scalar(request, "stream", False)),
        exclude_input=bool(_scalar(request, "exclude_input_in_output", False)),
        log_probs=bool(_scalar(request, "return_log_probs", False)),
        perf_metrics=bool(_scalar(request, "return_perf_metrics", False)),
    )
    return generation, flags


Outputs = dict[str, np.ndarray[Any, Any]]


def _outputs(
    text: str,
    tokens: Sequence[Token],
    flags: Flags,
    times: dict[str, int] | None = None,
    cumulative: float | None = None,
) -> Outputs:
    """One response: the text, log-probs when asked and known, and the timing metrics when asked.

    As TensorRT-LLM does, `cum_log_probs` is the running total of the sequence so far.
    """
    outputs: Outputs = {"text_output": np.array([[text.encode()]], dtype=object)}
    log_probs = [t.log_prob for t in tokens if t.log_prob is not None]
    if flags.log_probs and tokens and len(log_probs) == len(tokens):
        outputs["output_log_probs"] = np.array([[log_probs]], dtype=np.float32)
        total = sum(log_probs) if cumulative is None else cumulative
        outputs["cum_log_probs"] = np.array([[total]], dtype=np.float32)
    if flags.perf_metrics and times:
        # Only the times this server measures; it has no KV cache to report on.
        for name, value in times.items():
            outputs[name] = np.array([[value]], dtype=np.int64)
    return outputs


class _Clock:
    """The request's arrival, first-token and last-token times in ns, as TensorRT-LLM reports them."""

    def __init__(self) -> None:
        self.times = {"arrival_time_ns": time.time_ns()}

    def token(self) -> dict[str, int]:
        now = time.time_ns()
        self.times.setdefault("first_scheduled_time_ns", self.times["arrival_time_ns"])
        self.times.setdefault("first_token_time_ns", now)
        self.times["last_token_time_ns"] = now
        return dict(self.times)


def make_infer_functions(backend: Backend) -> tuple[Callable[..., Any], Callable[..., Iterator[Any]]]:
    """The unary and the decoupled (streaming) inference callables for PyTriton."""

    def complete(request: Request) -> Outputs:
        generation, flags = decode_request(request)
        clock = _Clock()
        tokens = list(backend.generate(generation))
        times = clock.token()
        text = "".join(t.text for t in tokens)
        return _outputs(text if flags.exclude_input else generation.prompt + text, tokens, flags, times)

    def infer_unary(requests: Sequence[Request]) -> list[Outputs]:
        return [complete(r) for r in requests]

    def infer_decoupled(requests: Sequence[Request]) -> Iterator[list[Outputs]]:
        # max_batch_size is 1 for the decoupled model, so each call streams exactly one request.
        for request in requests:
            generation, flags = decode_request(request)
            if not flags.stream:
                yield [complete(request)]
                continue
            if not flags.exclude_input:
                yield [_outputs(generation.prompt, [], flags)]
            clock = _Clock()
            total = 0.0
            for token in backend.generate(generation):
                total += token.log_prob or 0.0
                yield [_outputs(token.text, [token], flags, clock.token(), total)]

    return infer_unary, infer_decoupled


def tensors(specs: Sequence[TensorSpec], *, outputs: bool = False) -> list[Any]:
    """PyTriton tensor declarations for the ensemble interface."""
    from pytriton.model_config import Tensor

    # Triton has no optional outputs: a model simply leaves out what a request did not ask for.
    return [
        Tensor(name=s.name, dtype=_NUMPY_TYPES[s.datatype], shape=s.dims, optional=s.optional and not outputs)
        for s in specs
    ]


def serve(backend: Backend, *, grpc_port: int, http_port: int, metrics_port: int, host: str = "127.0.0.1") -> None:
    """Runs Triton in the foreground until the process is signalled."""
    fix_python_stub_library_path()
    from pytriton.model_config import ModelConfig
    from pytriton.triton import Triton, TritonConfig

    config = TritonConfig(
        grpc_address=host,
        grpc_port=grpc_port,
        http_address=host,
        http_port=http_port,
        metrics_port=metrics_port,
        exit_timeout_secs=2,
        log_verbose=0,
    )
    infer_unary, infer_decoupled = make_infer_functions(backend)
    outputs = list(OUTPUTS)
    with Triton(config=config) as triton:
        triton.bind(
            model_name=ENSEMBLE_MODEL,
            infer_func=infer_decoupled,
            inputs=tensors(INPUTS),
            outputs=tensors(outputs, outputs=True),
            config=ModelConfig(batching=True, max_batch_size=1, decoupled=True),
            strict=False,
        )
        triton.bind(
            model_name=UNARY_MODEL,
            infer_func=infer_unary,
            inputs=tensors(INPUTS),
            outputs=tensors(outputs, outputs=True),
            config=ModelConfig(batching=True, max_batch_size=4),
            strict=False,
        )
        triton.serve()
