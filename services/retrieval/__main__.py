"""`python -m services.retrieval`: the retrieval service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from llmops.api.embedding.v1 import embedding_pb2_grpc
from llmops.api.retrieval.v1 import retrieval_pb2_grpc
from llmops.grpc_client import open_channel
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.service import configure_service, run_until_stopped
from llmops.vectorstore import ChunkIndex, close_qdrant, open_qdrant
from services.retrieval.app import Retrieval
from services.retrieval.config import Settings
from services.retrieval.grpc_api import RetrievalServicer

SERVICE_NAME = "llmops.api.retrieval.v1.Retrieval"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs retrieval until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_service("retrieval", common)
    index = ChunkIndex(
        open_qdrant(settings.qdrant_url, settings.resolved_qdrant_path()),
        settings.dimensions,
        local=settings.qdrant_url is None,
    )
    channel = open_channel(settings.embedding_url, settings.grpc)
    app = Retrieval(index, embedding_pb2_grpc.EmbeddingStub(channel), settings.embed_timeout_s)
    servicer = RetrievalServicer(
        app, common.default_tenant, settings.default_top_k, EMBEDDING_MODEL, settings.dimensions
    )
    server = GrpcServer.from_settings(
        [ServiceBinding(servicer, retrieval_pb2_grpc.add_RetrievalServicer_to_server, SERVICE_NAME)],
        settings.grpc,
    )

    async def close_channel() -> None:
        await channel.close()

    await run_until_stopped(
        "retrieval",
        server,
        None,
        grace_s=settings.grpc.grace_s,
        stopped=stopped,
        on_stop=[close_channel, close_qdrant],
    )


if __name__ == "__main__":
    asyncio.run(main())
