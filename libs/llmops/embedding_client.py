"""A client of the embedding service for other services (topic matching, query drift): texts in, vectors out."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from llmops.api.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from llmops.errors import Unavailable


class GrpcEmbedder:
    """Embeds through the platform's embedding service (the same model retrieval uses)."""

    def __init__(self, channel: grpc.aio.Channel, timeout_s: float) -> None:
        self._stub = embedding_pb2_grpc.EmbeddingStub(channel)
        self._timeout_s = timeout_s

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            response = await self._stub.Embed(
                embedding_pb2.EmbedRequest(texts=list(texts), kind=embedding_pb2.INPUT_KIND_QUERY),
                timeout=self._timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(f"the embedding service answered {exc.code().name}: {exc.details()}") from exc
        return [list(v.values) for v in response.vectors]
