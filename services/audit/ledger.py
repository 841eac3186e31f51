"""The audit log as a Merkle tree: what a leaf is, how a batch extends the tree, how heads are sealed; pure.

A leaf is the canonical JSON of a stored record (sorted keys, no whitespace, UTF-8) with every field a reader can
see, so the verifier recomputes it from an exported line without trusting the service. Appending a batch moves
the compact range (the roots of the tree's perfect subtrees) forward and yields the completed subtree nodes the
store keeps for proofs; every committed batch ends in a signed tree head. Storage adapters call these functions
inside their transaction, so a crash leaves either the whole batch with its head or none of it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from llmops.audit_verify import canonical
from llmops.merkle import CompactRange, Node, leaf_hash
from llmops.tree_head import TreeHead
from services.audit.core import Record


@functools.lru_cache(maxsize=8192)
def iso(at: datetime) -> str:
    """UTC ISO-8601 with microseconds and a `Z`: the one text form of a time in entries and storage.

    Cached: a batch formats its one `recorded_at` and each event time twice (leaf entry and row)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    # isoformat is several times faster than strftime, and gives the same text once the offset is written as Z.
    return aware.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def entry_of(record: Record) -> dict[str, Any]:
    """The record as the fields its leaf commits to (times in their canonical text form)."""
    assert record.recorded_at is not None  # a stored record always has one
    return {
        "sequence": record.sequence,
        "event_id": record.event_id,
        "event_type": record.event_type,
        "subject": record.subject,
        "source": record.source,
        "time": iso(record.time),
        "recorded_at": iso(record.recorded_at),
        "tenant": record.tenant,
        "interaction_id": record.interaction_id,
        "document_id": record.document_id,
        "user": record.user,
        "payload_json": record.payload_json,
    }


def record_leaf_hash(record: Record) -> bytes:
    return leaf_hash(canonical(entry_of(record)))


@dataclass(frozen=True)
class Extension:
    """What appending a batch adds: each record's leaf hash, the completed subtree nodes, the new frontier."""

    leaf_hashes: list[bytes]
    nodes: list[Node]
    frontier: CompactRange


def extend(frontier: CompactRange, records: Sequence[Record]) -> Extension:
    """The tree after appending `records` (whose sequences must continue the frontier's size)."""
    grown = CompactRange(frontier.size, frontier.hashes)
    hashes, nodes = [], []
    for record in records:
        if record.sequence != grown.size:
            raise ValueError(f"record {record.event_id} has sequence {record.sequence}; the log expects {grown.size}")
        hashed = record_leaf_hash(record)
        hashes.append(hashed)
        nodes.extend(grown.append(hashed))
    return Extension(hashes, nodes, grown)


def frontier_bytes(frontier: CompactRange) -> bytes:
    """The compact range as stored beside its head (concatenated 32-byte roots, largest subtree first)."""
    return b"".join(frontier.hashes)


def frontier_from(size: int, stored: bytes) -> CompactRange:
    return CompactRange(size, [stored[i : i + 32] for i in range(0, len(stored), 32)])


@dataclass(frozen=True)
class SignedHead:
    """A tree head and its Ed25519 signature, as stored and served."""

    head: TreeHead
    signature: bytes


class Sealer(Protocol):
    """Signs tree heads with the log's key (the private key never leaves it)."""

    public_key: bytes

    def seal(self, tree_size: int, root_hash: bytes) -> SignedHead: ...
