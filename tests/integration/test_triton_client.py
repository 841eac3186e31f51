"""The inference service's Triton client against a real Triton server (PyTriton) on the ensemble interface."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import tritonclient.grpc as triton_sync
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from llmops.errors import DeadlineExceeded, FailedPrecondition, Unavailable
from llmops.testing import TritonServer, free_port
from services.inference.adapters.triton import TritonGenerator
from services.inference.core import Parameters
from services.inference.resilience import BreakerState, CircuitBreaker, RetryPolicy

pytestmark = pytest.mark.integration

PROMPT = (
    "Sources:\n[1] (Lists) Lists are mutable sequences.\n[2] (Tuples) Tuples are immutable sequences.\n\n"
    "Question: Are tuples immutable?\n"
)


async def collect(generator: TritonGenerator, params: Parameters) -> list[str]:
    return [piece.text async for piece in generator.stream(PROMPT, params)]


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


@pytest.mark.parametrize("model", ["ensemble", "ensemble_unary"])
async def test_log_probs_and_perf_metrics_come_back_when_asked(triton_server: TritonServer, model: str) -> None:
    """return_log_probs reaches the model; its output_log_probs, cum_log_probs and timing metrics are read."""
    generator = TritonGenerator(triton_server.grpc_url, model, timeout_s=30)
    try:
        pieces = [p async for p in generator.stream(PROMPT, Parameters(max_tokens=64, return_log_probs=True))]
        plain = [p async for p in generator.stream(PROMPT, Parameters(max_tokens=64))]
    finally:
        await generator.close()
    # The deterministic test model gives every token probability 1.
    assert [lp for p in pieces for lp in p.log_probs] == [0.0] * len(
        pieces if model == "ensemble" else ["Tuples", "are", "immutable", "sequences.", "[2]"]
    )
    assert pieces[-1].cum_log_prob == 0.0
    metrics = pieces[-1].metrics
    assert int(metrics["first_token_time_ns"]) >= int(metrics["arrival_time_ns"]) > 0
    assert all(p.log_probs == () and p.cum_log_prob is None for p in plain)


async def test_closing_the_stream_early_cancels_the_triton_request(triton_server: TritonServer) -> None:
    """A caller that goes away after the first piece leaves no request open on Triton's side."""
    generator = TritonGenerator(triton_server.grpc_url, "ensemble", timeout_s=30)
    try:
        stream = generator.stream(PROMPT, Parameters(max_tokens=64))
        first = await anext(stream)
        assert first.text and generator.in_flight == 1
        await stream.aclose()
        assert generator.in_flight == 0
        assert generator.breaker.state is BreakerState.CLOSED and generator.breaker.failures == 0
    finally:
        await generator.close()


async def test_a_deadline_shorter_than_the_call_is_deadline_exceeded(triton_server: TritonServer) -> None:
    generator = TritonGenerator(triton_server.grpc_url, "ensemble", timeout_s=30)
    try:
        assert await generator.decoupled()
        with pytest.raises(DeadlineExceeded, match="did not finish within 0.0s"):
            await anext(generator.stream(PROMPT, Parameters(max_tokens=64), timeout_s=1e-6))
        with pytest.raises(DeadlineExceeded, match="deadline has passed"):
            await anext(generator.stream(PROMPT, Parameters(max_tokens=64), timeout_s=0))
        # The caller's deadline was the short one: says nothing about the model's health.
        assert generator.breaker.failures == 0
    finally:
        await generator.close()


async def test_unavailable_is_retried_with_backoff_then_the_circuit_opens_and_fails_fast() -> None:
    """Each call retries; after the breaker's threshold of failures calls fail at once without dialling."""
    breaker = CircuitBreaker(failure_threshold=4, reset_after_s=60)
    generator = TritonGenerator(
        f"127.0.0.1:{free_port()}",
        "ensemble",
        timeout_s=5,
        retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02),
        breaker=breaker,
    )
    try:
        with pytest.raises(Unavailable, match="is unavailable"):
            await collect(generator, Parameters(max_tokens=4))
        assert breaker.failures == 2 and breaker.state is BreakerState.CLOSED  # two attempts, one call
        with pytest.raises(Unavailable, match="is unavailable"):
            await collect(generator, Parameters(max_tokens=4))
        assert breaker.state is BreakerState.OPEN
        with pytest.raises(Unavailable, match="circuit open"):
            await collect(generator, Parameters(max_tokens=4))
        assert breaker.failures == 4  # the fast failure did not call Triton
    finally:
        await generator.close()


@pytest.mark.parametrize("model", ["ensemble", "ensemble_unary"])
def test_the_dev_model_exposes_the_production_ensembles_tensors(triton_server: TritonServer, model: str) -> None:
    """The running PyTriton model and infra/triton's ensemble config.pbtxt declare the same names and types."""
    repository = Path(__file__).resolve().parents[2] / "infra" / "triton" / "model_repository"
    production = text_format.Parse(
        (repository / "ensemble" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    client = triton_sync.InferenceServerClient(triton_server.grpc_url)
    try:
        served = client.get_model_config(model).config
    finally:
        client.close()

    def signature(tensors: Iterable[Any]) -> dict[str, tuple[str, tuple[int, ...]]]:
        return {t.name: (model_config_pb2.DataType.Name(t.data_type), tuple(t.dims)) for t in tensors}

    assert signature(served.input) == signature(production.input)
    assert signature(served.output) == signature(production.output)
