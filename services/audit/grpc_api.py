"""The Audit gRPC servicer: decode, call the trail, encode."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc

from llmops.api.audit.v1 import audit_pb2 as pb
from llmops.api.audit.v1 import audit_pb2_grpc
from llmops.auth import principal_from_metadata
from llmops.errors import Unauthenticated
from llmops.security.context import current_authentication
from llmops.security.roles import Role
from services.audit.app import AuditTrail
from services.audit.core import Query, scoped_to_tenant
from services.audit.mappers import head_json, head_to_pb, page_to_pb, proven_json, query_from_pb

EXPORT_CHUNK_RECORDS = 200


def _within_reach(query: Query) -> Query:
    """The records an authenticated caller may read: its own tenant's, unless it is an `admin` (who verifies the
    whole log). Without authentication (embedded mode) callers name any tenant in headers, so scoping would
    protect nothing; the query's own tenant filter applies."""
    try:
        authenticated = current_authentication()
    except Unauthenticated:
        return query
    if Role.ADMIN.value in authenticated.caller.roles:
        return query
    return scoped_to_tenant(query, authenticated.principal.tenant)


class AuditServicer(audit_pb2_grpc.AuditServicer):
    """Compliance queries, signed tree heads and Merkle proofs over gRPC."""

    def __init__(self, trail: AuditTrail, public_key: bytes, default_tenant: str = "default") -> None:
        self.trail = trail
        self.public_key = public_key
        self.default_tenant = default_tenant

    async def Query(self, request: pb.QueryRequest, context: grpc.aio.ServicerContext) -> pb.QueryResponse:
        """Matching records in log order, one page at a time; the query itself is recorded."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        return page_to_pb(await self.trail.query(_within_reach(query_from_pb(request)), principal))

    async def Export(
        self, request: pb.ExportRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ExportChunk]:
        """JSON lines: the signed head first, then every matching record with its inclusion proof against it."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        head, proven = await self.trail.export(_within_reach(query_from_pb(request.query)), principal)
        lines = [json.dumps(head_json(head, self.public_key))]
        count = 0
        async for item in proven:
            lines.append(json.dumps(proven_json(item, head.head.tree_size), ensure_ascii=False))
            count += 1
            if len(lines) >= EXPORT_CHUNK_RECORDS:
                yield pb.ExportChunk(jsonl=("\n".join(lines) + "\n").encode(), records=count)
                lines = []
        yield pb.ExportChunk(jsonl=("\n".join(lines) + "\n").encode() if lines else b"", records=count)

    async def GetTreeHead(self, request: pb.GetTreeHeadRequest, context: grpc.aio.ServicerContext) -> pb.SignedTreeHead:
        """The latest signed head, or the one signed at `tree_size`."""
        return head_to_pb(await self.trail.tree_head(request.tree_size), self.public_key)

    async def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.InclusionProof:
        """The audit path of record `sequence` in the tree of `tree_size` (0: the latest head's)."""
        size, path = await self.trail.inclusion_proof(request.sequence, request.tree_size)
        return pb.InclusionProof(leaf_index=request.sequence, tree_size=size, path=path)

    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConsistencyProof:
        """The proof that the log at `second_size` (0: latest) extends the log at `first_size`."""
        size, path = await self.trail.consistency_proof(request.first_size, request.second_size)
        return pb.ConsistencyProof(first_size=request.first_size, second_size=size, path=path)

    async def Erase(self, request: pb.EraseRequest, context: grpc.aio.ServicerContext) -> pb.EraseResponse:
        """Destroys a data subject's keys in the caller's tenant: their personal fields become unreadable while
        every record, proof and head stays valid."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        destroyed = await self.trail.erase(principal, request.data_subject, request.reason)
        return pb.EraseResponse(keys_destroyed=destroyed)
