"""Token counting: the served model's own vocabulary when available, else an estimate."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from services.inference.core import estimate_tokens


class TokenCounter(Protocol):
    """Counts tokens the way the served model does."""

    exact: bool

    def count(self, text: str) -> int: ...


class EstimatingCounter:
    """Four characters per token; for deployments without a configured tokenizer."""

    exact = False

    def count(self, text: str) -> int:
        return estimate_tokens(text)


class GgufVocabCounter:
    """The tokenizer inside a GGUF file, loaded vocabulary-only by llama.cpp (a few MB, no weights)."""

    exact = True

    def __init__(self, path: Path) -> None:
        from llama_cpp import Llama  # optional dependency, only for GGUF models

        self._llama = Llama(model_path=str(path), vocab_only=True, verbose=False)
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        with self._lock:
            return len(self._llama.tokenize(text.encode(), add_bos=False, special=True))


def token_counter(gguf_path: Path | None) -> TokenCounter:
    """The exact counter for a GGUF model, else the estimate."""
    return GgufVocabCounter(gguf_path) if gguf_path else EstimatingCounter()
