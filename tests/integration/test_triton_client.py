"""The inference service's Triton client against a real Triton server (PyTriton) on the ensemble interface."""

from __future__ import annotations

import pytest

from llmops.errors import FailedPrecondition, Unavailable
from llmops.testing import TritonServer, free_port
from services.inference.adapters.triton import TritonGenerator
from services.inference.core import Parameters

pytestmark = pytest.mark.integration

PROMPT = (
    "Sources:\n[1] (Lists) Lists are mutable sequences.\n[2] (Tuples) Tuples are immutable sequences.\n\n"
    "Question: Are tuples immutable?\n"
)


async def collect(generator: TritonGenerator, params: Parameters) -> list[str]:
    return [piece async for piece in generator.stream(PROMPT, params)]


async def test_the_decoupled_ensemble_streams_the_answer_piece_by_piece(triton_server: TritonServer) -> None:
    """start_stream-style decoupled inference yields several pieces that add up to the answer."""
    generator = TritonGenerator(triton_server.grpc_url, "ensemble", timeout_s=30)
    try:
        assert await generator.decoupled()
        pieces = await collect(generator, Parameters(max_tokens=64))
    finally:
        await generator.close()
    assert len(pieces) > 1
    assert "".join(pieces) == "Tuples are immutable sequences. [2]"


async def test_the_unary_ensemble_returns_the_whole_answer_at_once(triton_server: TritonServer) -> None:
    """A non-decoupled model is called with plain infer and yields one piece."""
    generator = TritonGenerator(triton_server.grpc_url, "ensemble_unary", timeout_s=30)
    try:
        assert not await generator.decoupled()
        pieces = await collect(generator, Parameters(max_tokens=64))
    finally:
        await generator.close()
    assert pieces == ["Tuples are immutable sequences. [2]"]


async def test_max_tokens_bounds_the_streamed_answer(triton_server: TritonServer) -> None:
    """The max_tokens tensor reaches the model."""
    generator = TritonGenerator(triton_server.grpc_url, "ensemble", timeout_s=30)
    try:
        pieces = await collect(generator, Parameters(max_tokens=2))
    finally:
        await generator.close()
    assert pieces == ["Tuples ", "are "]


async def test_an_unknown_model_is_a_failed_precondition(triton_server: TritonServer) -> None:
    """A misconfigured model name is reported as such, not as an outage."""
    generator = TritonGenerator(triton_server.grpc_url, "no_such_model", timeout_s=5)
    try:
        with pytest.raises(FailedPrecondition, match="no_such_model"):
            await collect(generator, Parameters(max_tokens=4))
    finally:
        await generator.close()


async def test_a_triton_that_is_down_is_unavailable() -> None:
    """Nothing listening → Unavailable, which the gateway maps to the UNAVAILABLE status."""
    generator = TritonGenerator(f"127.0.0.1:{free_port()}", "ensemble", timeout_s=5)
    try:
        assert not await generator.ready()
        with pytest.raises(Unavailable):
            await collect(generator, Parameters(max_tokens=4))
    finally:
        await generator.close()
