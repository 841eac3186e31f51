"""Checking the audit log without trusting the service: entries, signed heads, inclusion and consistency; pure.

An export is JSON lines: the signed tree head first, then one line per record with the entry its leaf hashes, its
position and its audit path. The verifier recomputes every leaf from the entry, climbs its path to the root and
compares with the head, whose Ed25519 signature it checks under a key the caller pins (a key read from the file
proves nothing: a forger would put their own there). A complete export (every position 0..size-1) also rebuilds
the root from the leaves, which catches a deleted or reordered record even before any proof is read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmops import merkle
from llmops.tree_head import TreeHead, verify_tree_head

ENTRY_FIELDS = (
    "sequence",
    "event_id",
    "event_type",
    "subject",
    "source",
    "time",
    "recorded_at",
    "tenant",
    "interaction_id",
    "document_id",
    "user",
    "payload_json",
)
"""What a leaf commits to: every stored column of a record."""


class VerificationError(ValueError):
    """The log, an entry or a proof does not check out; the message says where and why."""


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes a leaf hashes: exactly ENTRY_FIELDS, sorted keys, compact separators, UTF-8."""
    if set(entry) != set(ENTRY_FIELDS):
        missing, extra = set(ENTRY_FIELDS) - set(entry), set(entry) - set(ENTRY_FIELDS)
        raise VerificationError(f"an audit entry has exactly the record fields (missing {missing}, extra {extra})")
    return json.dumps(dict(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_leaf_hash(entry: Mapping[str, Any]) -> bytes:
    return merkle.leaf_hash(canonical(entry))


@dataclass(frozen=True)
class SignedHeadView:
    """A tree head with its signature and the key it claims to be signed with."""

    head: TreeHead
    signature: bytes
    public_key: bytes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedHeadView:
        try:
            head = TreeHead(
                tree_size=int(data["tree_size"]),
                root_hash=base64.b64decode(data["root_hash"], validate=True),
                timestamp_ms=int(data["timestamp_ms"]),
            )
            return cls(head, base64.b64decode(data["signature"]), base64.b64decode(data["public_key"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError(f"the tree head is malformed: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.head.tree_size,
            "root_hash": base64.b64encode(self.head.root_hash).decode(),
            "timestamp_ms": self.head.timestamp_ms,
            "signature": base64.b64encode(self.signature).decode(),
            "public_key": base64.b64encode(self.public_key).decode(),
        }

    def verify(self, trusted_key: bytes | None) -> None:
        """The signature under the pinned key (or, unpinned, under the key the head names: integrity only)."""
        if trusted_key is not None and trusted_key != self.public_key:
            raise VerificationError("the tree head names a different signing key than the one pinned")
        try:
            verify_tree_head(self.head, self.signature, trusted_key or self.public_key)
        except ValueError as exc:
            raise VerificationError(f"the tree head's signature does not verify: {exc}") from None


@dataclass
class ExportReport:
    """What a verified export covered."""

    head: SignedHeadView
    records: int = 0
    complete: bool = False
    """Every position 0..size-1 was present, and the root rebuilt from the leaves matched."""
    positions: list[int] = field(default_factory=list)


def verify_export(lines: Iterable[str], trusted_key: bytes | None) -> ExportReport:
    """Checks an export line by line; raises VerificationError naming the first line that fails."""
    report: ExportReport | None = None
    leaves: dict[int, bytes] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise VerificationError(f"line {number} is not JSON: {exc}") from None
        if report is None:
            if "tree_head" not in item:
                raise VerificationError("line 1 must be the signed tree head")
            head = SignedHeadView.from_json(item["tree_head"])
            head.verify(trusted_key)
            report = ExportReport(head)
            continue
        index, leaf = _verify_line(item, number, report.head)
        if index in leaves:
            raise VerificationError(f"line {number}: position {index} appears twice")
        leaves[index] = leaf
        report.records += 1
        report.positions.append(index)
    if report is None:
        raise VerificationError("the export is empty: no tree head")
    size = report.head.head.tree_size
    if len(leaves) == size and set(leaves) == set(range(size)):
        if merkle.root([leaves[i] for i in range(size)]) != report.head.head.root_hash:
            raise VerificationError("the records do not rebuild the signed root")
        report.complete = True
    return report


def _verify_line(item: Mapping[str, Any], number: int, head: SignedHeadView) -> tuple[int, bytes]:
    try:
        entry, index, size = item["entry"], int(item["leaf_index"]), int(item["tree_size"])
        proof = [base64.b64decode(h, validate=True) for h in item["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"line {number}: malformed record line ({exc})") from None
    if size != head.head.tree_size:
        raise VerificationError(f"line {number}: proven against size {size}, the head is {head.head.tree_size}")
    if entry.get("sequence") != index:
        raise VerificationError(f"line {number}: the entry says sequence {entry.get('sequence')}, its leaf is {index}")
    leaf = entry_leaf_hash(entry)
    try:
        merkle.verify_inclusion(leaf, index, size, proof, head.head.root_hash)
    except merkle.ProofError as exc:
        raise VerificationError(f"line {number} (sequence {index}): not in the signed tree: {exc}") from None
    return index, leaf


def verify_extension(
    earlier: SignedHeadView, later: SignedHeadView, proof: list[bytes], trusted_key: bytes | None
) -> None:
    """The later head extends the earlier one: both signed, and the consistency proof holds (no fork, no edit)."""
    earlier.verify(trusted_key)
    later.verify(trusted_key)
    try:
        merkle.verify_consistency(
            earlier.head.tree_size, later.head.tree_size, earlier.head.root_hash, later.head.root_hash, proof
        )
    except merkle.ProofError as exc:
        raise VerificationError(
            f"the log at size {later.head.tree_size} does not extend the head seen at size "
            f"{earlier.head.tree_size}: {exc}"
        ) from None
