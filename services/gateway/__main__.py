"""`python -m services.gateway`: the gateway's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from llmops.api.embedding.v1 import embedding_pb2_grpc
from llmops.api.gateway.v1 import gateway_pb2_grpc
from llmops.api.guardrails.v1 import guardrails_pb2_grpc
from llmops.api.inference.v1 import inference_pb2_grpc
from llmops.api.retrieval.v1 import retrieval_pb2_grpc
from llmops.bus import Bus
from llmops.events import utcnow
from llmops.grpc_client import open_channel
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.prompts.store import PromptCatalog, open_prompt_store
from llmops.service import PeriodicTask, configure_service, run_until_stopped
from llmops.vectorstore import close_qdrant, open_qdrant
from services.gateway import handlers
from services.gateway.adapters.guardrails import Guard
from services.gateway.adapters.semantic_cache import SemanticCache
from services.gateway.app import AnswerCache, Assistant
from services.gateway.config import Settings
from services.gateway.core import Limits
from services.gateway.grpc_api import AssistantServicer

SERVICE_NAME = "llmops.api.gateway.v1.Assistant"


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs the gateway until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_service("gateway", common)
    retrieval_channel = open_channel(settings.retrieval_url, settings.grpc)
    inference_channel = open_channel(settings.inference_url, settings.grpc)
    embedding_channel = open_channel(settings.embedding_url, settings.grpc)
    guardrails_channel = open_channel(settings.guardrails_url, settings.grpc)
    guard = (
        Guard(
            guardrails_pb2_grpc.GuardrailsStub(guardrails_channel),
            application=settings.guardrails_application,
            timeout_s=settings.guardrails_timeout_s,
            fail_open=settings.guardrails_fail_open,
        )
        if settings.guardrails
        else None
    )
    bus = Bus.from_settings(common, "llmops/gateway")
    cache: AnswerCache | None = None
    on_start: list[Callable[[], Awaitable[None]]] = []
    on_stop: list[Callable[[], Awaitable[None]]] = []
    if settings.semantic_cache:
        catalog = PromptCatalog(open_prompt_store(bus, common.stream_replicas))
        store = SemanticCache(
            open_qdrant(settings.cache_qdrant_url, settings.resolved_cache_path()),
            settings.embedding_dimensions,
            threshold=settings.cache_similarity,
            ttl_s=settings.cache_ttl_s,
        )
        cache = AnswerCache(
            embedding_pb2_grpc.EmbeddingStub(embedding_channel), catalog, store, settings.embed_timeout_s
        )
        purge = PeriodicTask("cache-purge", lambda: store.purge_expired(utcnow()), settings.cache_purge_interval_s)
        on_start += [catalog.start, store.ensure_collection, purge.start]
        on_stop += [purge.stop, catalog.stop, close_qdrant]
    app = Assistant(
        retrieval_pb2_grpc.RetrievalStub(retrieval_channel),
        inference_pb2_grpc.InferenceStub(inference_channel),
        bus,
        retrieval_timeout_s=settings.retrieval_timeout_s,
        generation_timeout_s=settings.generation_timeout_s,
        hybrid=settings.hybrid_search,
        prompt_name=settings.prompt_name,
        cache=cache,
        guard=guard,
    )
    if cache is not None:
        handlers.register(bus, app)
    limits = Limits(
        max_query_chars=settings.max_query_chars,
        default_top_k=settings.default_top_k,
        default_max_tokens=settings.default_max_tokens,
    )
    server = GrpcServer.from_settings(
        [
            ServiceBinding(
                AssistantServicer(app, limits, common.default_tenant),
                gateway_pb2_grpc.add_AssistantServicer_to_server,
                SERVICE_NAME,
            )
        ],
        settings.grpc,
    )

    async def close_channels() -> None:
        await retrieval_channel.close()
        await inference_channel.close()
        await embedding_channel.close()
        await guardrails_channel.close()

    await run_until_stopped(
        "gateway",
        server,
        bus,
        grace_s=settings.grpc.grace_s,
        stopped=stopped,
        on_start=on_start,
        on_stop=[*on_stop, close_channels],
    )


if __name__ == "__main__":
    asyncio.run(main())
