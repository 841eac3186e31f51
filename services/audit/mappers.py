"""protobuf ↔ domain conversion for audit; the only module here that knows both."""

from __future__ import annotations

import base64

from google.protobuf.timestamp_pb2 import Timestamp

from llmops.api.audit.v1 import audit_pb2 as pb
from llmops.timestamps import from_timestamp, to_timestamp
from services.audit.app import Proven
from services.audit.core import Page, Query, Record, validate_query
from services.audit.ledger import SignedHead, entry_of


def query_from_pb(request: pb.QueryRequest) -> Query:
    """The validated domain query; unset range bounds are open."""
    return validate_query(
        start=from_timestamp(request.range.start, request.range.HasField("start")),
        end=from_timestamp(request.range.end, request.range.HasField("end")),
        tenant=request.tenant,
        user=request.user,
        event_types=request.event_types,
        interaction_id=request.interaction_id,
        document_id=request.document_id,
        page_size=request.page.page_size,
        page_token=request.page.page_token,
        model=request.model,
        prompt_name=request.prompt_name,
        prompt_version=request.prompt_version,
        guardrail_action=request.guardrail_action,
    )


def record_to_pb(record: Record) -> pb.AuditRecord:
    """The wire form of a stored record: every field its Merkle leaf commits to."""
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
        user=record.user,
    )


def page_to_pb(page: Page) -> pb.QueryResponse:
    """A QueryResponse from one page."""
    return pb.QueryResponse(records=[record_to_pb(r) for r in page.records], next_page_token=page.next_page_token)


def head_to_pb(signed: SignedHead, public_key: bytes) -> pb.SignedTreeHead:
    """A signed head on the wire; `timestamp` carries exactly the signed milliseconds."""
    timestamp = Timestamp()
    timestamp.FromMilliseconds(signed.head.timestamp_ms)
    return pb.SignedTreeHead(
        tree_size=signed.head.tree_size,
        root_hash=signed.head.root_hash,
        timestamp=timestamp,
        signature=signed.signature,
        public_key=public_key,
    )


def head_json(signed: SignedHead, public_key: bytes) -> dict[str, object]:
    """The head as the first line of an export (what `llmops audit verify` checks the rest against)."""
    return {
        "tree_head": {
            "tree_size": signed.head.tree_size,
            "root_hash": base64.b64encode(signed.head.root_hash).decode(),
            "timestamp_ms": signed.head.timestamp_ms,
            "signature": base64.b64encode(signed.signature).decode(),
            "public_key": base64.b64encode(public_key).decode(),
        }
    }


def proven_json(proven: Proven, tree_size: int) -> dict[str, object]:
    """An exported record: the entry its leaf hashes (personal fields encrypted), its position, its audit path,
    and the payload decrypted for the reader (`[erased]` where the subject's key was destroyed)."""
    return {
        "entry": entry_of(proven.record),
        "leaf_index": proven.record.sequence,
        "tree_size": tree_size,
        "proof": [base64.b64encode(h).decode() for h in proven.proof],
        "readable_payload_json": proven.readable_payload_json,
    }
