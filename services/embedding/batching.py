"""Micro-batching: concurrent embed calls share forward passes, bounded in size, wait and memory.

Several chunk events and query requests arrive at once; encoding each alone wastes the model's batch
parallelism and pads every short text to its own batch. The batcher queues texts, waits at most
`max_wait_s` for a batch of up to `max_batch` to fill, and runs one batch at a time in a worker thread, so
the event loop stays responsive and the cores are never oversubscribed. `max_pending` bounds the texts
waiting: beyond it callers wait (back-pressure), which slows consumers instead of growing memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

Vector = list[float]


class SyncEncoder(Protocol):
    """A model that turns a batch of texts into unit-length vectors, blocking the calling thread."""

    model_name: str
    dimensions: int

    def encode(self, texts: Sequence[str]) -> list[Vector]: ...


@dataclass
class _Piece:
    """Up to `max_batch` texts of one caller, answered through `done`."""

    texts: Sequence[str]
    done: asyncio.Future[list[Vector]]


@dataclass
class BatchStats:
    """What the batcher has done; for logs and benchmarks."""

    batches: int = 0
    texts: int = 0

    @property
    def mean_batch(self) -> float:
        return self.texts / self.batches if self.batches else 0.0


def split(texts: Sequence[str], size: int) -> list[Sequence[str]]:
    """Consecutive slices of at most `size` texts."""
    return [texts[i : i + size] for i in range(0, len(texts), size)]


class MicroBatcher:
    """Coalesces concurrent `embed` calls into batches of at most `max_batch` texts."""

    def __init__(
        self,
        encode: Callable[[list[str]], list[Vector]],
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.005,
        max_pending: int = 1024,
    ) -> None:
        if max_batch <= 0 or max_pending < max_batch or max_wait_s < 0:
            raise ValueError("need max_batch > 0, max_pending >= max_batch and max_wait_s >= 0")
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_pending = max_pending
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Piece] = asyncio.Queue()
        self._pending = 0
        self._room = asyncio.Condition()
        self._worker: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Texts queued or being encoded."""
        return self._pending

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Vectors for `texts`, in order; waits while more than `max_pending` texts are queued."""
        if not texts:
            return []
        self._ensure_worker()
        loop = asyncio.get_running_loop()
        pieces = [_Piece(part, loop.create_future()) for part in split(texts, self.max_batch)]
        for piece in pieces:
            await self._reserve(len(piece.texts))
            self._queue.put_nowait(piece)
        results = await asyncio.gather(*(p.done for p in pieces))
        return [vector for result in results for vector in result]

    async def close(self) -> None:
        """Stops the worker; queued callers get CancelledError."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while not self._queue.empty():
            self._queue.get_nowait().done.cancel()

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="embedding-micro-batcher")

    async def _reserve(self, count: int) -> None:
        async with self._room:
            # An empty queue always admits, so a request larger than max_pending still makes progress.
            await self._room.wait_for(lambda: self._pending == 0 or self._pending + count <= self.max_pending)
            self._pending += count

    async def _release(self, count: int) -> None:
        async with self._room:
            self._pending -= count
            self._room.notify_all()

    async def _run(self) -> None:
        carry: _Piece | None = None
        while True:
            first = carry or await self._queue.get()
            carry = None
            batch, size = [first], len(first.texts)
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    piece = (
                        self._queue.get_nowait()
                        if remaining <= 0
                        else await asyncio.wait_for(self._queue.get(), remaining)
                    )
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                if size + len(piece.texts) > self.max_batch:
                    carry = piece  # opens the next batch, keeping arrival order
                    break
                batch.append(piece)
                size += len(piece.texts)
            await self._encode_batch(batch, size)

    async def _encode_batch(self, batch: list[_Piece], size: int) -> None:
        live = [p for p in batch if not p.done.cancelled()]
        texts = [t for p in live for t in p.texts]
        try:
            vectors = await asyncio.to_thread(self._encode, texts) if texts else []
        except Exception as exc:  # the callers decide: a chunk event is retried, a query gets an error
            for piece in live:
                if not piece.done.done():
                    piece.done.set_exception(exc)
        else:
            self.stats.batches += 1
            self.stats.texts += len(texts)
            offset = 0
            for piece in live:
                if not piece.done.done():
                    piece.done.set_result(vectors[offset : offset + len(piece.texts)])
                offset += len(piece.texts)
        finally:
            await self._release(size)


class BatchingEmbedder:
    """An `Embedder` whose calls go through one `MicroBatcher` over a blocking model."""

    def __init__(
        self, model: SyncEncoder, *, max_batch: int = 64, max_wait_s: float = 0.005, max_pending: int = 1024
    ) -> None:
        self.model_name = model.model_name
        self.dimensions = model.dimensions
        self.batcher = MicroBatcher(model.encode, max_batch=max_batch, max_wait_s=max_wait_s, max_pending=max_pending)

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        return await self.batcher.embed(texts)

    async def close(self) -> None:
        await self.batcher.close()
