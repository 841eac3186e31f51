"""protobuf ↔ domain conversion for ingestion; the only module here that knows both."""

from __future__ import annotations

from llmops.api.common.v1 import common_pb2
from llmops.api.ingestion.v1 import ingestion_pb2 as pb
from llmops.errors import InvalidArgument
from llmops.events import Classification
from llmops.timestamps import to_timestamp
from services.ingestion.adapters.sqlite_store import DatasetSnapshot, DocumentView
from services.ingestion.app import IngestResult
from services.ingestion.core import DocumentHeader, Outcome, Stage

_CLASSIFICATIONS = {
    common_pb2.CLASSIFICATION_PUBLIC: Classification.PUBLIC,
    common_pb2.CLASSIFICATION_INTERNAL: Classification.INTERNAL,
    common_pb2.CLASSIFICATION_CONFIDENTIAL: Classification.CONFIDENTIAL,
    common_pb2.CLASSIFICATION_RESTRICTED: Classification.RESTRICTED,
}
_CLASSIFICATION_TO_PB = {v: k for k, v in _CLASSIFICATIONS.items()}
_OUTCOMES = {
    Outcome.CREATED: pb.INGEST_OUTCOME_CREATED,
    Outcome.UPDATED: pb.INGEST_OUTCOME_UPDATED,
    Outcome.UNCHANGED: pb.INGEST_OUTCOME_UNCHANGED,
}
_STAGES = {
    Stage.RECEIVED: pb.PIPELINE_STAGE_RECEIVED,
    Stage.CHUNKED: pb.PIPELINE_STAGE_CHUNKED,
    Stage.INDEXED: pb.PIPELINE_STAGE_INDEXED,
    Stage.DELETED: pb.PIPELINE_STAGE_DELETED,
}


def header_from_pb(header: pb.DocumentHeader) -> DocumentHeader:
    """The domain header; an unspecified classification means internal.

    Raises:
        InvalidArgument: a classification this version does not know (it must not read as a lower one).
    """
    if header.classification and header.classification not in _CLASSIFICATIONS:
        known = ", ".join(c.value for c in Classification)
        raise InvalidArgument(f"header.classification {header.classification} is unknown; use one of {known}")
    return DocumentHeader(
        source_uri=header.source_uri.strip(),
        title=header.title.strip(),
        mime_type=header.mime_type.strip(),
        dataset=header.dataset.strip(),
        classification=_CLASSIFICATIONS.get(header.classification, Classification.INTERNAL),
        allowed_groups=tuple(g for g in header.allowed_groups if g),
        metadata=dict(header.metadata),
    )


def ingest_result_to_pb(result: IngestResult) -> pb.IngestResponse:
    return pb.IngestResponse(
        document_id=result.document_id,
        version=result.version,
        outcome=_OUTCOMES[result.outcome],
        chunk_count=result.chunk_count,
        content_hash=result.content_hash,
    )


def document_to_pb(view: DocumentView) -> pb.Document:
    return pb.Document(
        document_id=view.document_id,
        tenant=view.tenant,
        source_uri=view.source_uri,
        title=view.title,
        dataset=view.dataset,
        mime_type=view.mime_type,
        classification=_CLASSIFICATION_TO_PB[view.classification],
        allowed_groups=view.allowed_groups,
        latest_version=view.latest_version,
        deleted=view.deleted,
        versions=[
            pb.DocumentVersion(
                version=v.version,
                content_hash=v.content_hash,
                chunk_count=v.chunk_count,
                ingested_by=v.ingested_by,
                ingested_at=to_timestamp(v.ingested_at),
                parser=v.parser,
                chunker=v.chunker,
                masking_policy=v.masking_policy,
                embedding_model=v.embedding_model,
                stage=_STAGES[v.stage],
                history=[pb.StageTime(stage=_STAGES[s], at=to_timestamp(at)) for s, at in v.history],
            )
            for v in view.versions
        ],
    )


def dataset_version_to_pb(snapshot: DatasetSnapshot) -> pb.DatasetVersion:
    return pb.DatasetVersion(
        dataset=snapshot.dataset,
        name=snapshot.name,
        created_at=to_timestamp(snapshot.created_at),
        document_versions=snapshot.document_versions,
    )
