"""The gRPC bootstrap: error mapping, unimplemented contracts, health and graceful stop, on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import nats.errors
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmops.api.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.errors import NotFound
from llmops.grpc_server import GrpcServer, ServiceBinding, unimplemented_servicer

pytestmark = pytest.mark.integration


class Exploding(embedding_pb2_grpc.EmbeddingServicer):
    """Raises a domain error for one input and a bug for another."""

    async def Embed(
        self, request: embedding_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> embedding_pb2.EmbedResponse:
        if request.texts[0] == "missing":
            raise NotFound("no model called 'missing'")
        if request.texts[0] == "bus down":
            raise nats.errors.TimeoutError  # what a KV or object-store call raises while NATS is unreachable
        raise ZeroDivisionError("a bug")


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    running = GrpcServer(
        [
            ServiceBinding(
                Exploding(), embedding_pb2_grpc.add_EmbeddingServicer_to_server, "llmops.api.embedding.v1.Embedding"
            ),
            ServiceBinding(
                unimplemented_servicer(
                    feedback_pb2_grpc.FeedbackServicer,
                    feedback_pb2.DESCRIPTOR.services_by_name["Feedback"],
                    "arrives later",
                ),
                feedback_pb2_grpc.add_FeedbackServicer_to_server,
                "llmops.api.feedback.v1.Feedback",
            ),
        ]
    )
    await running.start()
    yield running
    await running.stop(0)


async def test_domain_errors_become_their_status_and_bugs_become_internal_with_a_reference(server: GrpcServer) -> None:
    """NOT_FOUND keeps its message; an unexpected exception never leaks a traceback."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = embedding_pb2_grpc.EmbeddingStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as not_found:
            await stub.Embed(embedding_pb2.EmbedRequest(texts=["missing"]))
        assert not_found.value.code() == grpc.StatusCode.NOT_FOUND
        assert not_found.value.details() == "no model called 'missing'"
        with pytest.raises(grpc.aio.AioRpcError) as internal:
            await stub.Embed(embedding_pb2.EmbedRequest(texts=["boom"]))
        assert internal.value.code() == grpc.StatusCode.INTERNAL
        assert "reference" in internal.value.details() and "ZeroDivisionError" not in internal.value.details()


async def test_an_unreachable_event_bus_is_unavailable_so_the_client_retries(server: GrpcServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await embedding_pb2_grpc.EmbeddingStub(channel).Embed(embedding_pb2.EmbedRequest(texts=["bus down"]))
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "NATS" in (error.value.details() or "") and "retry" in (error.value.details() or "")


async def test_unimplemented_contracts_name_the_method_and_what_is_missing(server: GrpcServer) -> None:
    """Unary methods say which RPC and why."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = feedback_pb2_grpc.FeedbackStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Submit(feedback_pb2.SubmitRequest(interaction_id="i"))
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert error.value.details() == "Feedback.Submit: arrives later"


async def test_health_reports_serving_and_a_stopped_server_answers_nothing() -> None:
    """Health says SERVING while up; after stop, calls fail instead of hanging."""
    running = GrpcServer([])
    await running.start()
    async with grpc.aio.insecure_channel(running.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        await running.stop(0)
        with pytest.raises(grpc.aio.AioRpcError):
            await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
