"""Retrieval's use case: embed the query, search the caller's chunks."""

from __future__ import annotations

import grpc

from llmops.api.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from llmops.errors import DeadlineExceeded, Unavailable
from llmops.vectorstore import ChunkIndex
from services.retrieval.core import Hit, SearchQuery, maximal_marginal_relevance, newest_versions_only, to_hit

MMR_CANDIDATES = 3
"""MMR picks top_k from this many times top_k candidates."""


class Retrieval:
    """Searches the index for a tenant's chunks."""

    def __init__(self, index: ChunkIndex, embedding: embedding_pb2_grpc.EmbeddingStub, embed_timeout_s: float) -> None:
        self.index = index
        self.embedding = embedding
        self.embed_timeout_s = embed_timeout_s

    async def _embed(self, text: str) -> list[float]:
        try:
            response = await self.embedding.Embed(
                embedding_pb2.EmbedRequest(texts=[text], kind=embedding_pb2.INPUT_KIND_QUERY),
                timeout=self.embed_timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise DeadlineExceeded(f"query embedding took longer than {self.embed_timeout_s}s") from exc
            raise Unavailable(f"embedding service unavailable: {exc.details()}") from exc
        return list(response.vectors[0].values)

    async def search(self, query: SearchQuery) -> list[Hit]:
        """The best chunks for a query, best first."""
        vector = list(query.vector) if query.vector else await self._embed(query.text)
        points = await self.index.search(
            vector,
            tenant=query.scope.tenant,
            dataset=query.dataset,
            limit=query.top_k * MMR_CANDIDATES if query.mmr else query.top_k,
            score_threshold=query.score_threshold,
            access=query.scope,
            hybrid_text=query.text if query.hybrid else "",
            with_vectors=query.mmr,
        )
        if query.mmr:
            points = maximal_marginal_relevance(vector, points, query.top_k)
        return newest_versions_only([to_hit(p) for p in points])
