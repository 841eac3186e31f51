"""Ingestion's domain: validating a document, deciding its version and building its events; pure, no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from llmops import ids
from llmops.errors import InvalidArgument
from llmops.events import ChunkBody, Classification, DocumentChunked, DocumentReceived
from services.ingestion.chunking import CHUNKER_VERSION, ChunkingPolicy, TextChunk, chunk
from services.ingestion.parsing import PARSER_VERSION, parse, resolve_mime_type
from services.ingestion.upload import Upload


class Tokenizer(Protocol):
    """The embedding model's tokenizer, as chunking needs it."""

    name: str

    def count(self, words: Sequence[str]) -> list[int]: ...


class Masker(Protocol):
    """Replaces personal data in chunk text under a dataset's policy before anything is embedded or stored."""

    policy_name: str

    def mask(self, text: str) -> str: ...


MAX_PART_TEXT_CHARS = 200_000
"""Chunk text per `documents.v1.chunked` message; keeps bodies well under NATS's 1 MB payload limit."""


class Stage(StrEnum):
    """Where a document version is in the pipeline."""

    RECEIVED = "received"
    CHUNKED = "chunked"
    INDEXED = "indexed"
    DELETED = "deleted"


class Outcome(StrEnum):
    """What an ingest did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class DocumentHeader:
    """What the caller says about a document."""

    source_uri: str
    title: str = ""
    mime_type: str = ""
    dataset: str = ""
    classification: Classification = Classification.INTERNAL
    allowed_groups: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """Bounds on what ingestion accepts."""

    max_document_bytes: int = 2 * 1024 * 1024
    """Largest document sent whole (`Ingest`); it is held in memory."""
    max_stream_bytes: int = 256 * 1024 * 1024
    """Largest document streamed (`IngestStream`); it is spooled to disk as it arrives."""
    max_source_uri_chars: int = 2048
    max_dataset_chars: int = 128


@dataclass(frozen=True)
class LatestVersion:
    """The newest stored version of a document, as far as deciding the next one needs."""

    version: int
    content_hash: str
    stage: Stage
    deleted: bool


@dataclass(frozen=True)
class VersionPlan:
    """A new document version, ready to be recorded and published."""

    document_id: str
    tenant: str
    version: int
    outcome: Outcome
    header: DocumentHeader
    dataset: str
    mime_type: str
    title: str
    content_hash: str
    size_bytes: int
    chunks: tuple[TextChunk, ...]
    ingested_by: str
    parser: str = PARSER_VERSION
    chunker: str = CHUNKER_VERSION
    masking_policy: str = "keep"

    @property
    def raw_object(self) -> str:
        """Where the original bytes of this version live in the raw-documents object store."""
        return raw_object_name(self.tenant, self.document_id, self.version)

    def received_event(self, at: datetime) -> DocumentReceived:
        """The `documents.v1.received` event of this version."""
        return DocumentReceived(
            tenant=self.tenant,
            occurred_at=at,
            document_id=self.document_id,
            version=self.version,
            source_uri=self.header.source_uri,
            dataset=self.dataset,
            content_hash=self.content_hash,
            size_bytes=self.size_bytes,
            mime_type=self.mime_type,
            ingested_by=self.ingested_by,
            raw_object=self.raw_object,
        )

    def chunked_events(self, at: datetime) -> list[DocumentChunked]:
        """The `documents.v1.chunked` events of this version, split into parts that fit a NATS message."""
        parts: list[list[TextChunk]] = [[]]
        size = 0
        for c in self.chunks:
            encoded = len(json.dumps(c.text))  # what the chunk costs in the message, escapes included
            if parts[-1] and size + encoded > MAX_PART_TEXT_CHARS:
                parts.append([])
                size = 0
            parts[-1].append(c)
            size += encoded
        return [
            DocumentChunked(
                tenant=self.tenant,
                occurred_at=at,
                document_id=self.document_id,
                version=self.version,
                source_uri=self.header.source_uri,
                title=self.title,
                dataset=self.dataset,
                content_hash=self.content_hash,
                classification=self.header.classification,
                allowed_groups=list(self.header.allowed_groups),
                part=number,
                parts=len(parts),
                total_chunks=len(self.chunks),
                chunks=[
                    ChunkBody(
                        chunk_id=ids.chunk_id(self.document_id, self.version, c.index),
                        index=c.index,
                        text=c.text,
                        start_char=c.start_char,
                        end_char=c.end_char,
                        page=c.page,
                        heading_path=list(c.heading_path),
                    )
                    for c in part
                ],
            )
            for number, part in enumerate(parts)
        ]


def validate_header(header: DocumentHeader, limits: Limits) -> None:
    """Refuses headers a document cannot be stored under."""
    if not header.source_uri.strip():
        raise InvalidArgument("header.source_uri is required: it identifies the document within your tenant")
    if len(header.source_uri) > limits.max_source_uri_chars:
        raise InvalidArgument(f"header.source_uri is longer than {limits.max_source_uri_chars} characters")
    if len(header.dataset) > limits.max_dataset_chars:
        raise InvalidArgument(f"header.dataset is longer than {limits.max_dataset_chars} characters")


def validate_size(size: int, limits: Limits, *, streamed: bool = False) -> None:
    """Refuses empty and oversized content."""
    if size == 0:
        raise InvalidArgument("content is empty; send the document's bytes")
    if streamed and size > limits.max_stream_bytes:
        raise InvalidArgument(f"document is {size} bytes, over the {limits.max_stream_bytes}-byte streaming limit")
    if not streamed and size > limits.max_document_bytes:
        raise InvalidArgument(
            f"document is {size} bytes, over the {limits.max_document_bytes}-byte limit for Ingest; "
            f"send it with IngestStream (up to {limits.max_stream_bytes} bytes)"
        )


def plan_version(
    *,
    tenant: str,
    user: str,
    header: DocumentHeader,
    content: bytes | Upload,
    latest: LatestVersion | None,
    limits: Limits,
    policy: ChunkingPolicy,
    tokenizer: Tokenizer | None = None,
    masker: Masker | None = None,
) -> VersionPlan | None:
    """Decides what an ingest does; None means the content equals the latest, already published version."""
    validate_header(header, limits)
    upload = content if isinstance(content, Upload) else Upload.of(content)
    validate_size(upload.size, limits, streamed=upload.streamed)
    mime_type = resolve_mime_type(header.mime_type, header.source_uri)
    parsed = parse(upload, mime_type, header.source_uri, header.title)
    digest = upload.digest
    document_id = ids.document_id(tenant, header.source_uri)
    if latest is not None and not latest.deleted and latest.content_hash == digest:
        if latest.stage != Stage.RECEIVED:
            return None
        version, outcome = latest.version, Outcome.UPDATED if latest.version > 1 else Outcome.CREATED
    else:
        version = (latest.version + 1) if latest else 1
        outcome = Outcome.UPDATED if latest and not latest.deleted else Outcome.CREATED
    return VersionPlan(
        document_id=document_id,
        tenant=tenant,
        version=version,
        outcome=outcome,
        header=header,
        dataset=header.dataset or "default",
        mime_type=mime_type,
        title=parsed.title,
        content_hash=digest,
        size_bytes=upload.size,
        chunks=tuple(
            replace(c, text=masker.mask(c.text)) if masker else c
            for c in chunk(parsed, policy, tokenizer.count if tokenizer else None)
        ),
        masking_policy=masker.policy_name if masker else "keep",
        ingested_by=user,
        chunker=f"{CHUNKER_VERSION};{f'tokens:{tokenizer.name}' if tokenizer else 'words'}",
    )


_DATASET_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def validate_dataset_version(dataset: str, name: str) -> tuple[str, str]:
    """A dataset and snapshot name, or INVALID_ARGUMENT saying what is allowed."""
    dataset = dataset.strip()
    if not dataset:
        raise InvalidArgument("dataset is required")
    if not _DATASET_VERSION_NAME.fullmatch(name):
        raise InvalidArgument(
            f"name {name!r} is not a valid version name: use 1–128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 2026-11-eval)"
        )
    return dataset, name


RAW_BUCKET = "documents-raw"


def raw_object_name(tenant: str, document_id: str, version: int) -> str:
    """Object name of a version's original bytes."""
    return f"{tenant}/{document_id}/v{version}"
