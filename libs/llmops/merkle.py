"""RFC 6962 / RFC 9162 Merkle trees for the audit log: hashes, roots, proofs and their verification; pure, no I/O.

Leaves hash as SHA-256(0x00 || entry) and interior nodes as SHA-256(0x01 || left || right), so an interior node can
never pass for an entry (RFC 6962 §2.1). A tree of n leaves splits at the largest power of two below n, which makes
every tree a prefix of every larger one: consistency proofs rest on that.

Generation reads the tree through a `RangeHash`, the root of leaves [start, end), so a store of perfect subtrees
(`node_range_hash`, fed by `CompactRange.append`) serves proofs without loading the leaves; a plain sequence of leaf
hashes works too. Verification needs only hashlib, so a client checks the service without trusting it. Subtree
proofs follow the Merkle Tree Certificates draft (draft-ietf-plants-merkle-tree-certs §4.3-4.4): they show that a
whole run of records sits in a signed tree, which is how a client checks a range (`split_into_subtrees`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}), the root of the empty tree."""

RangeHash = Callable[[int, int], bytes]
"""(start, end) -> MTH(D[start:end]); proof generation only asks for ranges that are nodes of the tree."""
NodeLookup = Callable[[int, int], bytes]
"""(level, index) -> the stored root of the perfect subtree over leaves [index * 2**level, (index + 1) * 2**level)."""
LeafSource = Sequence[bytes] | RangeHash
"""What proofs are generated from: the leaf hashes themselves, or a `RangeHash` over a store."""


class ProofError(ValueError):
    """A proof does not verify against the sizes and hashes given; the message names the check that failed."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of one log entry."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 §2.1 in O(n) time and O(log n) memory; the empty tree gives `EMPTY_ROOT`."""
    frontier = CompactRange()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


@dataclass(frozen=True)
class Node:
    """A perfect subtree: the root of leaves [index * 2**level, (index + 1) * 2**level)."""

    level: int
    index: int
    hash: bytes


class CompactRange:
    """The roots of the perfect subtrees that make up the first `size` leaves: all a log writer needs to append.

    A tree of size n folds one perfect subtree per set bit of n, largest first. Appending merges equal subtrees like
    a binary counter, so `append` and `root` cost O(log n) and the state is at most 64 hashes for a 64-bit log.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Resumes from a persisted `size` and `hashes` (largest subtree first); the default is the empty tree."""
        if size < 0 or len(hashes) != size.bit_count():
            want = max(size, 0).bit_count()
            raise ValueError(f"a compact range of size {size} holds {want} hashes, got {len(hashes)}")
        for i, h in enumerate(hashes):
            _check_hash(h, f"compact range hash {i}", ValueError)
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """How many leaves have been appended."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect subtree roots, largest first; persist them with `size` to resume."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[Node]:
        """Adds a leaf; returns the perfect subtrees it completes, the leaf first, for a store to serve proofs from."""
        _check_hash(leaf_hash, "leaf hash", ValueError)
        h, level, index = leaf_hash, 0, self._size
        completed = [Node(level, index, h)]
        while (self._size >> level) & 1:
            h = node_hash(self._hashes.pop(), h)
            level, index = level + 1, index >> 1
            completed.append(Node(level, index, h))
        self._hashes.append(h)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the leaves so far."""
        if not self._hashes:
            return EMPTY_ROOT
        acc = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            acc = node_hash(h, acc)
        return acc


def is_valid_subtree(start: int, end: int) -> bool:
    """Whether [start, end) is a node of some tree: non-empty, start a multiple of bit_ceil(end - start)."""
    return 0 <= start < end and start % (1 << (end - start - 1).bit_length()) == 0


def split_into_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Valid subtrees that tile [start, end) exactly, at most log2(end) + 1 of them: how a client checks a range."""
    if not 0 <= start <= end:
        raise ValueError(f"[{start}, {end}) is not a range of leaves")
    parts: list[tuple[int, int]] = []
    while start < end:
        # The largest aligned block at `start`; when it overshoots, what is left is itself a valid subtree.
        block = start & -start if start else end
        parts.append((start, min(start + block, end)))
        start = parts[-1][1]
    return parts


def sequence_range_hash(leaf_hashes: Sequence[bytes]) -> RangeHash:
    """A `RangeHash` over leaf hashes in memory: O(end - start) per range, so O(n) per proof."""

    def range_hash(start: int, end: int) -> bytes:
        frontier = CompactRange()
        for i in range(start, end):
            frontier.append(leaf_hashes[i])
        return frontier.root()

    return range_hash


def node_range_hash(lookup: NodeLookup) -> RangeHash:
    """A `RangeHash` over stored perfect subtrees: at most log2(n) lookups per range, and no leaf is read."""

    def range_hash(start: int, end: int) -> bytes:
        if not is_valid_subtree(start, end):
            raise ValueError(f"[{start}, {end}) is not a node of the tree")
        parts: list[bytes] = []
        width = end - start
        for level in reversed(range(width.bit_length())):
            if (width >> level) & 1:
                parts.append(lookup(level, start >> level))
                start += 1 << level
        acc = parts[-1]
        for h in reversed(parts[:-1]):
            acc = node_hash(h, acc)
        return acc

    return range_hash


def inclusion_proof(leaf_hashes: LeafSource, index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]) of RFC 6962 §2.1.1: sibling hashes from the leaf up to the root."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} is outside a tree of size {tree_size}")
    range_hash = _range_hash(leaf_hashes, tree_size)
    return [range_hash(s, e) for s, e in _path(index, 0, tree_size)]


def consistency_proof(leaf_hashes: LeafSource, first_size: int, second_size: int) -> list[bytes]:
    """PROOF(first_size, D[second_size]) of RFC 6962 §2.1.2; empty for equal sizes."""
    if not 0 < first_size <= second_size:
        raise ValueError(f"no consistency proof from size {first_size} to size {second_size}: need 0 < first <= second")
    range_hash = _range_hash(leaf_hashes, second_size)
    return [range_hash(s, e) for s, e in _subtree_proof(0, first_size, second_size)]


def subtree_inclusion_proof(leaf_hashes: LeafSource, index: int, start: int, end: int) -> list[bytes]:
    """The path from leaf `index` up to the root of the subtree [start, end) (MTC draft §4.3)."""
    if not is_valid_subtree(start, end) or not start <= index < end:
        raise ValueError(f"leaf {index} is not in a valid subtree [{start}, {end})")
    range_hash = _range_hash(leaf_hashes, end)
    return [range_hash(s, e) for s, e in _path(index, start, end)]


def subtree_consistency_proof(leaf_hashes: LeafSource, start: int, end: int, tree_size: int) -> list[bytes]:
    """SUBTREE_PROOF(start, end, D[tree_size]) (MTC draft §4.4): the subtree [start, end) sits in that tree."""
    if (start != end and not is_valid_subtree(start, end)) or not 0 <= end <= tree_size:
        raise ValueError(f"[{start}, {end}) is not a valid subtree of a tree of size {tree_size}")
    if start == end:
        return []
    range_hash = _range_hash(leaf_hashes, tree_size)
    return [range_hash(s, e) for s, e in _subtree_proof(start, end, tree_size)]


def root_from_inclusion_proof(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` implies for the leaf (RFC 9162 §2.1.3.2); raises `ProofError` when its shape is wrong."""
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    _check_hash(leaf_hash, "leaf hash", ProofError)
    _check_proof(proof, _inclusion_length(index, tree_size), f"an inclusion proof for leaf {index} of size {tree_size}")
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof goes on past the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof stops short of the root")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raises `ProofError` unless `proof` shows the leaf at `index` in the tree of `tree_size` with `root`.

    The proof binds the leaf to the root, not to the size: take `tree_size` and `root` from a verified tree head.
    """
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    if not hmac.compare_digest(computed, root):
        raise ProofError(f"the inclusion proof leads to root {computed.hex()}, not {root.hex()}")


def verify_consistency(
    first_size: int, second_size: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raises `ProofError` unless `proof` shows the tree of `first_size` is a prefix of the one of `second_size`.

    RFC 9162 §2.1.4.2, with its preconditions made explicit: 0 < first_size <= second_size, and equal sizes take
    an empty proof and equal roots.
    """
    if not 0 <= first_size <= second_size:
        raise ProofError(f"no consistency from size {first_size} to size {second_size}: the log cannot shrink")
    if first_size == 0:
        raise ProofError("every tree extends the empty one: a consistency proof from size 0 proves nothing")
    if first_size == second_size:
        if proof:
            raise ProofError(f"trees of equal size {first_size} take an empty proof, got {len(proof)} hashes")
        if not hmac.compare_digest(first_root, second_root):
            raise ProofError(f"two trees of size {first_size} have different roots: the log has forked")
        return
    expected = len(_subtree_proof(0, first_size, second_size))
    _check_proof(proof, expected, f"a consistency proof from size {first_size} to {second_size}")
    fr, sr = _climb_consistency(first_size, second_size, first_root, proof)
    if not hmac.compare_digest(fr, first_root):
        raise ProofError(f"the consistency proof does not rebuild the first root (size {first_size}): history changed")
    if not hmac.compare_digest(sr, second_root):
        raise ProofError(f"the consistency proof does not lead to the second root (size {second_size})")


def _climb_consistency(
    first_size: int, second_size: int, first_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Steps 2-6 of RFC 9162 §2.1.4.2: the first and second roots the proof implies, for 0 < first < second."""
    path = [first_root, *proof] if first_size & (first_size - 1) == 0 else list(proof)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof goes on past the root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof stops short of the root")
    return fr, sr


def verify_subtree_inclusion(
    leaf_hash: bytes, index: int, start: int, end: int, proof: Sequence[bytes], subtree_hash: bytes
) -> None:
    """Raises `ProofError` unless `proof` shows the leaf at `index` under the subtree [start, end) with that hash."""
    if not is_valid_subtree(start, end):
        raise ProofError(f"[{start}, {end}) is not a valid subtree")
    if not start <= index < end:
        raise ProofError(f"leaf index {index} is outside the subtree [{start}, {end})")
    computed = root_from_inclusion_proof(leaf_hash, index - start, end - start, proof)
    if not hmac.compare_digest(computed, subtree_hash):
        raise ProofError(f"the inclusion proof leads to subtree hash {computed.hex()}, not {subtree_hash.hex()}")


def verify_subtree_consistency(
    start: int, end: int, tree_size: int, proof: Sequence[bytes], subtree_hash: bytes, root: bytes
) -> None:
    """Raises `ProofError` unless `proof` shows the subtree [start, end) with `subtree_hash` in the tree with `root`.

    MTC draft §4.4.3. An empty subtree sits in every tree: its hash must be the empty tree's and its proof empty.
    """
    if start == end and 0 <= end <= tree_size:
        if proof or not hmac.compare_digest(subtree_hash, EMPTY_ROOT):
            raise ProofError("an empty subtree takes an empty proof and the empty tree's hash")
        return
    if not is_valid_subtree(start, end) or end > tree_size:
        raise ProofError(f"[{start}, {end}) is not a valid subtree of a tree of size {tree_size}")
    expected = len(_subtree_proof(start, end, tree_size))
    _check_proof(proof, expected, f"a proof of subtree [{start}, {end}) in size {tree_size}")
    fr, sr = _climb_subtree_consistency(start, end, tree_size, proof, subtree_hash)
    if not hmac.compare_digest(fr, subtree_hash):
        raise ProofError(f"the proof does not rebuild the hash of subtree [{start}, {end})")
    if not hmac.compare_digest(sr, root):
        raise ProofError(f"the subtree proof does not lead to the root of size {tree_size}")


def _climb_subtree_consistency(
    start: int, end: int, tree_size: int, proof: Sequence[bytes], subtree_hash: bytes
) -> tuple[bytes, bytes]:
    """MTC draft §4.4.3 steps 2-7: the subtree hash (fr) and tree root (sr) the proof implies.

    fn and sn climb from the subtree's first and last leaf, tn from the tree's last leaf; right-shifting climbs one
    level. Only hashes left of sn below the subtree's root are inside the subtree, so only they feed fr.
    """
    fn, sn, tn = start, end - 1, tree_size - 1
    # A subtree on the tree's right edge climbs to its own root; one inside climbs while it is a right child.
    while fn != sn and (sn == tn or sn & 1):
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if fn == sn:
        fr = sr = subtree_hash
        rest = list(proof)
    else:
        fr = sr = proof[0]
        rest = list(proof[1:])
    for c in rest:
        if tn == 0:
            raise ProofError("the subtree proof goes on past the root")
        if sn & 1 or sn == tn:
            if fn < sn:
                fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:
        raise ProofError("the subtree proof stops short of the root")
    return fr, sr


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _path(index: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """The sibling ranges of PATH(index, D[lo:hi]), leaf first."""
    siblings: list[tuple[int, int]] = []
    while hi - lo > 1:
        mid = lo + _largest_power_of_two_below(hi - lo)
        if index < mid:
            siblings.append((mid, hi))
            hi = mid
        else:
            siblings.append((lo, mid))
            lo = mid
    return siblings[::-1]


def _subtree_proof(start: int, end: int, tree_size: int) -> list[tuple[int, int]]:
    """The ranges of SUBTREE_PROOF(start, end, D[tree_size]); with start 0 it is RFC 6962's PROOF, deepest first.

    Walk down from the root towards [start, end); each step keeps the sibling range. When the subtree straddles the
    split (only possible at start == lo for a valid subtree) its left part is the sibling and its right part goes on
    unknown to the verifier, so the node where the walk ends is given too.
    """
    ranges: list[tuple[int, int]] = []
    lo, hi, known = 0, tree_size, True
    while (lo, hi) != (start, end):
        mid = lo + _largest_power_of_two_below(hi - lo)
        if end <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            if start < mid:
                start, known = mid, False
            ranges.append((lo, mid))
            lo = mid
    if not known:
        ranges.append((lo, hi))
    return ranges[::-1]


def _range_hash(leaf_hashes: LeafSource, tree_size: int) -> RangeHash:
    if not isinstance(leaf_hashes, Sequence):
        return leaf_hashes
    if tree_size > len(leaf_hashes):
        raise ValueError(f"tree size {tree_size} exceeds the {len(leaf_hashes)} leaf hashes given")
    return sequence_range_hash(leaf_hashes)


def _inclusion_length(index: int, size: int) -> int:
    """How many hashes an inclusion proof has: the levels below the split where the leaf's path leaves the right
    border (index XOR last index), plus the left siblings above it (set bits of what remains)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _check_hash(value: bytes, name: str, error: type[ValueError]) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"{name} is {len(value)} bytes, not {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes], expected: int, what: str) -> None:
    if len(proof) != expected:
        raise ProofError(f"{what} has {expected} hashes, got {len(proof)}")
    for i, h in enumerate(proof):
        _check_hash(h, f"proof hash {i}", ProofError)
