"""The Audit gRPC servicer: decode, call the trail, encode; the Merkle-log methods are not built yet."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from llmops.api.audit.v1 import audit_pb2 as pb
from llmops.api.audit.v1 import audit_pb2_grpc
from llmops.errors import Unimplemented
from services.audit.app import AuditTrail
from services.audit.mappers import page_to_pb, query_from_pb

MERKLE_MISSING = "the Merkle log (RFC 6962 tree heads and proofs) arrives with issue #6"


class AuditServicer(audit_pb2_grpc.AuditServicer):
    """Compliance queries over gRPC."""

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    async def Query(self, request: pb.QueryRequest, context: grpc.aio.ServicerContext) -> pb.QueryResponse:
        """Matching records in log order, one page at a time."""
        return page_to_pb(await self.trail.query(query_from_pb(request)))

    async def Export(
        self, request: pb.ExportRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ExportChunk]:
        """Not built yet: JSONL export needs the inclusion proofs of the Merkle log."""
        raise Unimplemented(f"Audit.Export: JSONL export with inclusion proofs needs {MERKLE_MISSING}")
        yield  # pragma: no cover - makes this an async generator, as server-streaming handlers must be

    async def GetTreeHead(self, request: pb.GetTreeHeadRequest, context: grpc.aio.ServicerContext) -> pb.SignedTreeHead:
        """Not built yet."""
        raise Unimplemented(f"Audit.GetTreeHead: {MERKLE_MISSING}")

    async def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.InclusionProof:
        """Not built yet."""
        raise Unimplemented(f"Audit.GetInclusionProof: {MERKLE_MISSING}")

    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConsistencyProof:
        """Not built yet."""
        raise Unimplemented(f"Audit.GetConsistencyProof: {MERKLE_MISSING}")

    async def Erase(self, request: pb.EraseRequest, context: grpc.aio.ServicerContext) -> pb.EraseResponse:
        """Not built yet."""
        raise Unimplemented("Audit.Erase: crypto-shredding of personal fields arrives with issue #6")
