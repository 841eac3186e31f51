"""`python -m services.embedding`: the embedding service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from llmops.api.embedding.v1 import embedding_pb2_grpc
from llmops.bus import Bus
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.logging import get_logger
from llmops.service import configure_service, run_until_stopped
from llmops.vectorstore import ChunkIndex, close_qdrant, open_qdrant
from services.embedding import handlers
from services.embedding.adapters.sentence_model import Embedder, SentenceTransformerEmbedder
from services.embedding.app import EmbeddingApp
from services.embedding.batching import BatchingEmbedder
from services.embedding.config import Settings
from services.embedding.grpc_api import EmbeddingServicer

log = get_logger(__name__)
SERVICE_NAME = "llmops.api.embedding.v1.Embedding"


async def main(
    settings: Settings | None = None, stopped: Awaitable[object] | None = None, embedder: Embedder | None = None
) -> None:
    """Runs embedding until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_service("embedding", common)
    if embedder is None:
        model = await asyncio.to_thread(
            SentenceTransformerEmbedder,
            settings.model_path,
            batch_size=settings.batch_size,
            threads=settings.torch_threads,
            precision=settings.precision,
        )
        log.info("embedding model loaded", model=model.model_name, precision=model.precision)
        embedder = BatchingEmbedder(
            model,
            max_batch=settings.micro_batch_texts,
            max_wait_s=settings.micro_batch_wait_ms / 1000,
            max_pending=max(settings.max_pending_texts, settings.micro_batch_texts),
        )
    index = ChunkIndex(
        open_qdrant(settings.qdrant_url, settings.resolved_qdrant_path()),
        embedder.dimensions,
        local=settings.qdrant_url is None,
    )
    await index.ensure_collection()
    bus = Bus.from_settings(common, "llmops/embedding")
    app = EmbeddingApp(embedder, index, bus)
    handlers.register(bus, app, concurrency=settings.concurrent_events)
    server = GrpcServer.from_settings(
        [ServiceBinding(EmbeddingServicer(app), embedding_pb2_grpc.add_EmbeddingServicer_to_server, SERVICE_NAME)],
        settings.grpc,
    )
    await run_until_stopped(
        "embedding", server, bus, grace_s=settings.grpc.grace_s, stopped=stopped, on_stop=[close_qdrant]
    )


if __name__ == "__main__":
    asyncio.run(main())
