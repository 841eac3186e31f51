"""Binds a generation backend to PyTriton under the TensorRT-LLM ensemble names, unary and decoupled."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from llmops.triton_local.backends import Backend, GenerationRequest
from llmops.trtllm import ENSEMBLE_MODEL, INPUTS, OUTPUTS, TensorSpec

UNARY_MODEL = f"{ENSEMBLE_MODEL}_unary"
"""The same model, not decoupled: for clients and tests of plain unary `infer`."""

_NUMPY_TYPES: dict[str, Any] = {
    "BYTES": bytes,
    "INT32": np.int32,
    "UINT64": np.uint64,
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


def decode_request(triton_request: Request) -> tuple[GenerationRequest, bool, bool]:
    """Reads ensemble inputs into a generation request, plus the `stream` and `exclude_input_in_output` flags."""
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
    return (
        generation,
        bool(_scalar(request, "stream", False)),
        bool(_scalar(request, "exclude_input_in_output", False)),
    )


def _text(piece: str) -> dict[str, np.ndarray[Any, Any]]:
    return {"text_output": np.array([[piece.encode()]], dtype=object)}


def make_infer_functions(backend: Backend) -> tuple[Callable[..., Any], Callable[..., Iterator[Any]]]:
    """The unary and the decoupled (streaming) inference callables for PyTriton."""

    def complete(request: Request) -> str:
        generation, _, exclude_input = decode_request(request)
        text = "".join(backend.generate(generation))
        return text if exclude_input else generation.prompt + text

    def infer_unary(requests: Sequence[Request]) -> list[dict[str, np.ndarray[Any, Any]]]:
        return [_text(complete(r)) for r in requests]

    def infer_decoupled(requests: Sequence[Request]) -> Iterator[list[dict[str, np.ndarray[Any, Any]]]]:
        # max_batch_size is 1 for the decoupled model, so each call streams exactly one request.
        for request in requests:
            generation, stream, exclude_input = decode_request(request)
            if not stream:
                yield [_text(complete(request))]
                continue
            if not exclude_input:
                yield [_text(generation.prompt)]
            for piece in backend.generate(generation):
                yield [_text(piece)]

    return infer_unary, infer_decoupled


def tensors(specs: Sequence[TensorSpec]) -> list[Any]:
    """PyTriton tensor declarations for the ensemble interface."""
    from pytriton.model_config import Tensor

    return [Tensor(name=s.name, dtype=_NUMPY_TYPES[s.datatype], shape=s.dims, optional=s.optional) for s in specs]


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
    outputs = [s for s in OUTPUTS if s.name == "text_output"]
    with Triton(config=config) as triton:
        triton.bind(
            model_name=ENSEMBLE_MODEL,
            infer_func=infer_decoupled,
            inputs=tensors(INPUTS),
            outputs=tensors(outputs),
            config=ModelConfig(batching=True, max_batch_size=1, decoupled=True),
            strict=False,
        )
        triton.bind(
            model_name=UNARY_MODEL,
            infer_func=infer_unary,
            inputs=tensors(INPUTS),
            outputs=tensors(outputs),
            config=ModelConfig(batching=True, max_batch_size=4),
            strict=False,
        )
        triton.serve()
