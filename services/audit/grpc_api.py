"""The Audit gRPC servicer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from llmops.api.audit.v1 import audit_pb2 as pb
from llmops.api.audit.v1 import audit_pb2_grpc
from llmops.errors import Unimplemented
from llmops.timestamps import from_timestamp, to_timestamp
from services.audit.adapters.sqlite_log import AuditLog
from services.audit.core import Record, validate_query

MERKLE_MISSING = "the Merkle log (RFC 6962 signed tree heads and proofs) arrives with issue #6"


def record_to_pb(record: Record) -> pb.AuditRecord:
    return pb.AuditRecord(
        sequence=record.sequence,
        event_id=record.event_id,
        event_type=record.event_type,
        subject=record.subject,
        source=record.source,
        time=to_timestamp(record.time),
        recorded_at=to_timestamp(record.recorded_at),
        tenant=record.tenant,
        interaction_id=record.interaction_id,
        document_id=record.document_id,
        payload_json=record.payload_json,
    )


class AuditServicer(audit_pb2_grpc.AuditServicer):
    """Compliance queries over gRPC."""

    def __init__(self, audit_log: AuditLog) -> None:
        self.log = audit_log

    async def Query(self, request: pb.QueryRequest, context: grpc.aio.ServicerContext) -> pb.QueryResponse:
        query = validate_query(
            start=from_timestamp(request.range.start, request.range.HasField("start")),
            end=from_timestamp(request.range.end, request.range.HasField("end")),
            tenant=request.tenant,
            user=request.user,
            event_types=list(request.event_types),
            interaction_id=request.interaction_id,
            document_id=request.document_id,
            page_size=request.page.page_size,
            page_token=request.page.page_token,
        )
        records = await self.log.query(query)
        next_token = str(records[-1].sequence + 1) if len(records) == query.limit else ""
        return pb.QueryResponse(records=[record_to_pb(r) for r in records], next_page_token=next_token)

    async def Export(
        self, request: pb.ExportRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ExportChunk]:
        raise Unimplemented("Audit.Export: JSONL export with inclusion proofs arrives with issue #6")
        yield  # pragma: no cover - an async generator, as server-streaming handlers must be

    async def GetTreeHead(self, request: pb.GetTreeHeadRequest, context: grpc.aio.ServicerContext) -> pb.SignedTreeHead:
        raise Unimplemented(f"Audit.GetTreeHead: {MERKLE_MISSING}")

    async def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.InclusionProof:
        raise Unimplemented(f"Audit.GetInclusionProof: {MERKLE_MISSING}")

    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConsistencyProof:
        raise Unimplemented(f"Audit.GetConsistencyProof: {MERKLE_MISSING}")

    async def Erase(self, request: pb.EraseRequest, context: grpc.aio.ServicerContext) -> pb.EraseResponse:
        raise Unimplemented("Audit.Erase: crypto-shredding of personal fields arrives with issue #6")
