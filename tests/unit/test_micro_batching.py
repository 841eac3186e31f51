"""The micro-batcher: concurrent calls share bounded batches, answers go back in order, back-pressure holds."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.embedding.batching import MicroBatcher, split

pytestmark = pytest.mark.unit


class RecordingModel:
    """A deterministic stand-in for the model's encode: vector = [len(text), batch number]."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.gate = gate

    def encode(self, texts: list[str]) -> list[list[float]]:
        if self.gate is not None:
            self.gate.wait(timeout=10)
        self.batches.append(list(texts))
        return [[float(len(t)), float(len(self.batches))] for t in texts]


def test_split_keeps_order_and_bounds_size() -> None:
    assert split(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert split([], 3) == []


async def test_concurrent_calls_share_one_batch_and_get_their_own_vectors() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(model.encode, max_batch=16, max_wait_s=0.05)
    texts = [["a", "bb"], ["ccc"], ["dddd", "eeeee", "ffffff"]]
    results = await asyncio.gather(*(batcher.embed(t) for t in texts))
    assert model.batches == [["a", "bb", "ccc", "dddd", "eeeee", "ffffff"]]
    assert [[v[0] for v in r] for r in results] == [[1.0, 2.0], [3.0], [4.0, 5.0, 6.0]]
    assert batcher.stats.batches == 1 and batcher.stats.mean_batch == 6.0
    await batcher.close()


async def test_batches_never_exceed_max_batch_and_large_requests_are_split() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(model.encode, max_batch=4, max_wait_s=0.05)
    big = [f"t{i}" for i in range(10)]
    small = ["x", "y", "z"]
    big_vectors, small_vectors = await asyncio.gather(batcher.embed(big), batcher.embed(small))
    assert all(len(b) <= 4 for b in model.batches)
    assert sorted(t for b in model.batches for t in b) == sorted(big + small)
    assert [v[0] for v in big_vectors] == [float(len(t)) for t in big]
    assert [v[0] for v in small_vectors] == [1.0, 1.0, 1.0]
    await batcher.close()


async def test_a_lone_call_runs_after_the_wait_without_a_full_batch() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(model.encode, max_batch=64, max_wait_s=0.001)
    assert len(await batcher.embed(["only"])) == 1
    assert model.batches == [["only"]]
    await batcher.close()


async def test_an_encoder_failure_reaches_every_caller_of_that_batch_and_the_batcher_goes_on() -> None:
    calls = 0

    def flaky(texts: list[str]) -> list[list[float]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model fell over")
        return [[1.0] for _ in texts]

    batcher = MicroBatcher(flaky, max_batch=8, max_wait_s=0.05)
    first = await asyncio.gather(batcher.embed(["a"]), batcher.embed(["b"]), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in first)
    assert await batcher.embed(["c"]) == [[1.0]]
    assert batcher.pending == 0
    await batcher.close()


async def test_callers_wait_while_max_pending_texts_are_queued() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    batcher = MicroBatcher(model.encode, max_batch=2, max_wait_s=0, max_pending=4)
    running = [asyncio.create_task(batcher.embed([f"a{i}", f"b{i}"])) for i in range(2)]
    await asyncio.sleep(0.05)
    assert batcher.pending == 4
    blocked = asyncio.create_task(batcher.embed(["late"]))
    await asyncio.sleep(0.05)
    assert batcher.pending == 4, "a fifth text was admitted past max_pending"
    assert not blocked.done()
    gate.set()
    await asyncio.gather(*running, blocked)
    assert batcher.pending == 0
    assert model.batches[-1] == ["late"]
    await batcher.close()


async def test_a_cancelled_caller_does_not_break_the_batch_of_others() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    batcher = MicroBatcher(model.encode, max_batch=8, max_wait_s=0.02)
    keep = asyncio.create_task(batcher.embed(["keep"]))
    drop = asyncio.create_task(batcher.embed(["drop"]))
    await asyncio.sleep(0)
    drop.cancel()
    gate.set()
    assert [v[0] for v in await keep] == [4.0]
    assert batcher.pending == 0
    await batcher.close()


def test_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(RecordingModel().encode, max_batch=8, max_pending=4)
