"""The Embedding gRPC servicer."""

from __future__ import annotations

import grpc

from llmops.api.embedding.v1 import embedding_pb2 as pb
from llmops.api.embedding.v1 import embedding_pb2_grpc
from services.embedding.app import EmbeddingApp


class EmbeddingServicer(embedding_pb2_grpc.EmbeddingServicer):
    """Embedding over gRPC."""

    def __init__(self, app: EmbeddingApp) -> None:
        self.app = app

    async def Embed(self, request: pb.EmbedRequest, context: grpc.aio.ServicerContext) -> pb.EmbedResponse:
        vectors = await self.app.embed(list(request.texts))
        return pb.EmbedResponse(
            vectors=[pb.Vector(values=v) for v in vectors],
            model=self.app.embedder.model_name,
            dimensions=self.app.embedder.dimensions,
        )
