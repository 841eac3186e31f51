"""Ingestion's use cases: each validates, records, publishes, and answers in domain terms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from llmops import ids
from llmops.auth import Principal
from llmops.bus import Bus
from llmops.errors import AlreadyExists, InvalidArgument, NotFound
from llmops.events import DocumentDeleted, DocumentIndexed, utcnow
from llmops.logging import get_logger
from llmops.pii.masking import MaskingPolicy
from llmops.pii.presidio import PresidioDetector, PresidioMasker
from services.ingestion.adapters.raw_store import NoRawStore, RawStore
from services.ingestion.adapters.sqlite_store import DatasetSnapshot, DocumentStore, DocumentView
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.core import (
    DocumentHeader,
    Limits,
    Outcome,
    Stage,
    Tokenizer,
    plan_version,
    raw_object_name,
    validate_dataset_version,
)
from services.ingestion.upload import Upload

log = get_logger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did to a document."""

    document_id: str
    version: int
    outcome: Outcome
    chunk_count: int
    content_hash: str


class Ingestion:
    """Records document versions and publishes their events; the gRPC servicer and bus handlers call this."""

    def __init__(
        self,
        store: DocumentStore,
        bus: Bus,
        limits: Limits,
        policy: ChunkingPolicy,
        tokenizer: Tokenizer | None = None,
        *,
        detector: PresidioDetector | None = None,
        masking: dict[str, MaskingPolicy] | None = None,
        default_masking: MaskingPolicy = MaskingPolicy.KEEP,
        raw: RawStore | None = None,
    ) -> None:
        if detector is None and (
            default_masking is not MaskingPolicy.KEEP
            or any(p is not MaskingPolicy.KEEP for p in (masking or {}).values())
        ):
            raise ValueError("a masking policy other than keep needs a PII detector")
        self.raw = raw or NoRawStore()
        self.detector = detector
        self.masking = masking or {}
        self.default_masking = default_masking
        self.tokenizer = tokenizer
        self.store = store
        self.bus = bus
        self.limits = limits
        self.policy = policy

    async def ingest(self, principal: Principal, header: DocumentHeader, content: bytes | Upload) -> IngestResult:
        """Stores a new version when the content changed and publishes it; same content is a no-op.

        `content` is the whole document, or an `Upload` spooled from IngestStream; the caller closes it.
        """
        upload = content if isinstance(content, Upload) else Upload.of(content)
        document_id = ids.document_id(principal.tenant, header.source_uri) if header.source_uri else ""
        latest = await self.store.latest(document_id) if document_id else None
        policy = self.masking.get(header.dataset or "default", self.default_masking)
        masker = (
            PresidioMasker(self.detector, policy, principal.tenant)
            if self.detector and policy.value != "keep"
            else None
        )
        # Parsing, masking and tokenising are CPU-bound: off the event loop.
        plan = await asyncio.to_thread(
            plan_version,
            tenant=principal.tenant,
            user=principal.subject,
            header=header,
            content=upload,
            latest=latest,
            limits=self.limits,
            policy=self.policy,
            tokenizer=self.tokenizer,
            masker=masker,
        )
        if plan is None:
            assert latest is not None  # noqa: S101 - plan_version returns None only for a known latest
            view = await self.store.get(document_id)
            chunks = view.versions[-1].chunk_count if view and view.versions else 0
            return IngestResult(document_id, latest.version, Outcome.UNCHANGED, chunks, latest.content_hash)
        now = utcnow()
        # The original bytes go to the object store first: every event that names them can be resolved.
        await self.raw.put(plan.raw_object, upload)
        await self.store.record_version(plan, now)
        # Publish received and chunks before marking CHUNKED: a crash in between leaves RECEIVED, and the
        # next ingest of the same content re-publishes under the same event ids (JetStream drops duplicates).
        await self.bus.publish(plan.received_event(now))
        await self.bus.publish_all(plan.chunked_events(now))
        await self.store.set_stage(plan.document_id, plan.version, Stage.CHUNKED, utcnow())
        log.info(
            "document ingested",
            document_id=plan.document_id,
            version=plan.version,
            outcome=plan.outcome.value,
            chunks=len(plan.chunks),
        )
        return IngestResult(plan.document_id, plan.version, plan.outcome, len(plan.chunks), plan.content_hash)

    async def get(self, principal: Principal, document_id: str) -> DocumentView:
        """A document of the caller's tenant, with its versions."""
        view = await self.store.get(document_id)
        if view is None or view.tenant != principal.tenant:
            raise NotFound(f"no document with id {document_id!r} in tenant {principal.tenant!r}")
        return view

    async def list_documents(self, principal: Principal, dataset: str, after: str, limit: int) -> list[DocumentView]:
        """The caller's documents in id order, after a cursor."""
        return await self.store.list_documents(principal.tenant, dataset, after, limit)

    async def delete(self, principal: Principal, document_id: str) -> DocumentView:
        """Tombstones a document and publishes `documents.v1.deleted` so the index drops it."""
        view = await self.get(principal, document_id)
        if not view.deleted:
            await self.store.mark_deleted(document_id, utcnow())
        # Deleting a document deletes its original bytes too; the tombstone and lineage stay.
        for version in view.versions:
            await self.raw.delete(raw_object_name(view.tenant, document_id, version.version))
        await self.bus.publish(
            DocumentDeleted(
                tenant=view.tenant,
                document_id=document_id,
                version=view.latest_version,
                deleted_by=principal.subject,
            )
        )
        return view

    async def on_indexed(self, event: DocumentIndexed) -> None:
        """Records that a part of a version is searchable; the version is INDEXED once every part is."""
        done = await self.store.mark_part_indexed(
            event.document_id,
            event.version,
            event.part,
            event.parts,
            event.embedding_model,
            event.occurred_at,
        )
        if done:
            log.info("document indexed", document_id=event.document_id, version=event.version)

    async def create_dataset_version(self, principal: Principal, dataset: str, name: str) -> DatasetSnapshot:
        """Freezes the dataset's current document versions under a name, so an evaluation can be reproduced."""
        dataset, name = validate_dataset_version(dataset, name)
        snapshot = await self.store.snapshot_dataset(principal.tenant, dataset, name, principal.subject, utcnow())
        if snapshot is None:
            raise AlreadyExists(f"dataset {dataset!r} already has a version named {name!r}; pick another name")
        if not snapshot.document_versions:
            log.warning("empty dataset snapshot", dataset=dataset, name=name)
        return snapshot

    async def dataset_versions(self, principal: Principal, dataset: str) -> list[DatasetSnapshot]:
        """The named versions of one of the caller's datasets."""
        if not dataset.strip():
            raise InvalidArgument("dataset is required")
        return await self.store.dataset_versions(principal.tenant, dataset.strip())
