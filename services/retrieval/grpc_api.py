"""The Retrieval gRPC servicer."""

from __future__ import annotations

import grpc

from llmops.api.common.v1 import common_pb2
from llmops.api.retrieval.v1 import retrieval_pb2 as pb
from llmops.api.retrieval.v1 import retrieval_pb2_grpc
from llmops.auth import AccessScope, principal_from_metadata
from services.retrieval.app import Retrieval
from services.retrieval.core import Hit, validate


def hit_to_pb(hit: Hit) -> pb.ScoredChunk:
    return pb.ScoredChunk(
        score=hit.score,
        chunk=common_pb2.Chunk(
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            document_version=hit.document_version,
            index=hit.index,
            text=hit.text,
            title=hit.title,
            source_uri=hit.source_uri,
            dataset=hit.dataset,
            location=common_pb2.ChunkLocation(
                start_char=hit.start_char, end_char=hit.end_char, page=hit.page, heading_path=hit.heading_path
            ),
        ),
    )


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServicer):
    """Retrieval over gRPC."""

    def __init__(
        self, app: Retrieval, default_tenant: str, default_top_k: int, embedding_model: str, dimensions: int = 384
    ) -> None:
        self.app = app
        self.dimensions = dimensions
        self.default_tenant = default_tenant
        self.default_top_k = default_top_k
        self.embedding_model = embedding_model

    async def Search(self, request: pb.SearchRequest, context: grpc.aio.ServicerContext) -> pb.SearchResponse:
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        query = validate(
            request.query,
            AccessScope.of(principal),
            request.dataset,
            request.top_k,
            request.score_threshold,
            self.default_top_k,
            hybrid=request.hybrid,
            mmr=request.mmr,
            vector=request.query_vector,
            dimensions=self.dimensions,
        )
        hits = await self.app.search(query)
        return pb.SearchResponse(hits=[hit_to_pb(h) for h in hits], embedding_model=self.embedding_model)
