"""The gateway as an evaluation sees it: one golden question in, what the platform did with it out."""

from __future__ import annotations

import time

import grpc

from llmops.api.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from llmops.auth import Principal, principal_metadata
from services.feedback.evaluation import CitedSource, Observation


class GatewayAsker:
    """Asks through `AskStream` (the first message names every retrieved source) with the cache bypassed."""

    def __init__(self, channel: grpc.aio.Channel, timeout_s: float) -> None:
        self._stub = gateway_pb2_grpc.AssistantStub(channel)
        self._timeout_s = timeout_s

    async def ask(
        self, principal: Principal, question: str, prompt_name: str, prompt_version: int, model: str
    ) -> Observation:
        request = gateway_pb2.AskRequest(
            query=question, prompt_name=prompt_name, prompt_version=prompt_version, model=model, bypass_cache=True
        )
        started = time.perf_counter()
        retrieved: list[str] = []
        try:
            call = self._stub.AskStream(request, timeout=self._timeout_s, metadata=principal_metadata(principal))
            async for message in call:
                kind = message.WhichOneof("event")
                if kind == "sources":
                    retrieved = [c.source_uri for c in message.sources.citations]
                elif kind == "done":
                    done = message.done
                    return Observation(
                        answer=done.answer,
                        citations=tuple(CitedSource(c.number, c.source_uri, c.snippet) for c in done.citations),
                        retrieved=tuple(retrieved),
                        latency_ms=done.timings.total_ms or (time.perf_counter() - started) * 1000,
                        cost_usd=done.usage.cost_usd,
                        tokens=done.usage.total_tokens,
                    )
        except grpc.aio.AioRpcError as exc:
            return Observation(answer="", error=f"{exc.code().name}: {exc.details()}")
        return Observation(answer="", error="the gateway's stream ended without an answer")
