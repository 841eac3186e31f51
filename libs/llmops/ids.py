"""Deterministic identifiers: the same input always names the same document, chunk, point and event."""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("5b0d4d7e-3c3f-4b8e-9a57-2f6f0c1d9e21")


def document_id(tenant: str, source_uri: str) -> str:
    """A document is identified by its tenant and source URI."""
    return str(uuid.uuid5(NAMESPACE, f"document\x00{tenant}\x00{source_uri}"))


def chunk_id(document_id: str, version: int, index: int) -> str:
    """The chunk id doubles as the Qdrant point id, so re-embedding a chunk overwrites it."""
    return str(uuid.uuid5(NAMESPACE, f"chunk\x00{document_id}\x00{version}\x00{index}"))


def event_id(event_type: str, key: str) -> str:
    """The CloudEvents id and `Nats-Msg-Id` of an event, so a re-publish is dropped as a duplicate."""
    return str(uuid.uuid5(NAMESPACE, f"event\x00{event_type}\x00{key}"))


def content_hash(content: bytes) -> str:
    """SHA-256 of the raw content, hex; decides whether a re-ingest is a new version."""
    return hashlib.sha256(content).hexdigest()
