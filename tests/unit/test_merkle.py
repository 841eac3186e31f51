"""The Merkle log's hashing, proofs and verifier: the transparency-dev reference vectors, an oracle written from
RFC 6962's definitions, every proof of every tree up to 64 leaves with every mutation, and a lying server."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from llmops.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    is_valid_subtree,
    leaf_hash,
    node_hash,
    node_range_hash,
    root,
    root_from_inclusion_proof,
    split_into_subtrees,
    subtree_consistency_proof,
    subtree_inclusion_proof,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

pytestmark = pytest.mark.unit

VECTORS = Path(__file__).parents[1] / "data" / "rfc6962"
MAX_SIZE = 64

# The 8-leaf tree of the certificate-transparency and transparency-dev test suites, and its published roots.
REFERENCE_ENTRIES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
REFERENCE_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
REFERENCE_LEAVES = [leaf_hash(e) for e in REFERENCE_ENTRIES]
EXHAUSTIVE_SIZE = 16
"""Up to this size every byte of every proof hash is flipped; above it the first, middle and last byte."""
ENTRIES = [f"audit record {i}".encode() for i in range(MAX_SIZE)]
LEAVES = [leaf_hash(e) for e in ENTRIES]


# --- an oracle: RFC 6962 §2.1 transcribed literally, sharing no code with llmops.merkle -------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def oracle_mth(entries: Sequence[bytes]) -> bytes:
    if len(entries) == 0:
        return _h(b"")
    if len(entries) == 1:
        return _h(b"\x00" + entries[0])
    k = _split(len(entries))
    return _h(b"\x01" + oracle_mth(entries[:k]) + oracle_mth(entries[k:]))


def oracle_path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    if len(entries) <= 1:
        return []
    k = _split(len(entries))
    if m < k:
        return [*oracle_path(m, entries[:k]), oracle_mth(entries[k:])]
    return [*oracle_path(m - k, entries[k:]), oracle_mth(entries[:k])]


def oracle_subproof(m: int, entries: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if complete else [oracle_mth(entries)]
    k = _split(n)
    if m <= k:
        return [*oracle_subproof(m, entries[:k], complete), oracle_mth(entries[k:])]
    return [*oracle_subproof(m - k, entries[k:], False), oracle_mth(entries[:k])]


@cache
def oracle_root(size: int) -> bytes:
    return oracle_mth(ENTRIES[:size])


# --- helpers -------------------------------------------------------------------------------------------------------


def mutations(proof: Sequence[bytes], every_byte: bool = True) -> list[tuple[str, list[bytes]]]:
    """A flip in every byte (or the first, middle and last) of every hash, the proof cut or run long, reordered."""
    out: list[tuple[str, list[bytes]]] = []
    for i, h in enumerate(proof):
        for b in range(len(h)) if every_byte else (0, len(h) // 2, len(h) - 1):
            flipped = bytearray(h)
            flipped[b] ^= 0x01
            out.append((f"byte {b} of hash {i}", [*proof[:i], bytes(flipped), *proof[i + 1 :]]))
    if proof:
        out.append(("truncated", list(proof[:-1])))
        out.append(("first dropped", list(proof[1:])))
    out.append(("extended", [*proof, LEAVES[0]]))
    out.append(("prefixed", [LEAVES[0], *proof]))
    if len(proof) > 1 and proof[0] != proof[1]:
        out.append(("reordered", [proof[1], proof[0], *proof[2:]]))
    return out


def neighbours(value: int, low: int, high: int, exhaustive: bool) -> list[int]:
    """Every other value in [low, high], or (for big trees, to stay fast) those a bug would most likely confuse."""
    near = range(low, high + 1) if exhaustive else {value - 1, value + 1, value ^ 1, value // 2, value * 2, low, high}
    return sorted(v for v in near if low <= v <= high and v != value)


def load_vectors(kind: str) -> list[Any]:
    return [
        pytest.param(json.loads(path.read_text()), id=str(path.relative_to(VECTORS / kind)))
        for path in sorted((VECTORS / kind).rglob("*.json"))
    ]


def b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def hashes(values: Sequence[str] | None) -> list[bytes]:
    return [b64(v) for v in values or []]


def outcome(check: Callable[[], None]) -> ProofError | None:
    try:
        check()
    except ProofError as e:
        return e
    return None


def accepted(verify: Callable[..., None], *args: Any) -> bool:
    return outcome(lambda: verify(*args)) is None


# --- the reference vectors (transparency-dev/merkle testdata, Apache-2.0, see tests/data/rfc6962/) ------------------


def test_every_reference_vector_is_present() -> None:
    """518 cases; a lost file would otherwise shrink the suite silently."""
    assert len(list(VECTORS.rglob("*.json"))) == 518
    assert (VECTORS / "LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.parametrize("case", load_vectors("inclusion"))
def test_inclusion_vector(case: dict[str, Any]) -> None:
    """Happy paths verify; every mutation of index, size, leaf, root or proof is rejected with a ProofError."""
    error = outcome(
        lambda: verify_inclusion(
            b64(case["leafHash"]), case["leafIdx"], case["treeSize"], hashes(case["proof"]), b64(case["root"])
        )
    )
    assert (error is not None) == case["wantErr"], error


@pytest.mark.parametrize("case", load_vectors("consistency"))
def test_consistency_vector(case: dict[str, Any]) -> None:
    """Happy paths verify; every mutation of sizes, roots or proof is rejected with a ProofError."""
    error = outcome(
        lambda: verify_consistency(
            case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), hashes(case["proof"])
        )
    )
    assert (error is not None) == case["wantErr"], error


@pytest.mark.parametrize("case", load_vectors("subtreeinclusion"))
def test_subtree_inclusion_vector(case: dict[str, Any]) -> None:
    """Inclusion in a subtree [start, end): happy paths verify, invalid subtrees and mutations are rejected."""
    error = outcome(
        lambda: verify_subtree_inclusion(
            b64(case["leafHash"]), case["leafIdx"], case["start"], case["end"], hashes(case["proof"]), b64(case["root"])
        )
    )
    assert (error is not None) == case["wantErr"], error


@pytest.mark.parametrize("case", load_vectors("subtreeconsistency"))
def test_subtree_consistency_vector(case: dict[str, Any]) -> None:
    """A subtree [start, end) inside a tree: happy paths verify, invalid subtrees and mutations are rejected."""
    error = outcome(
        lambda: verify_subtree_consistency(
            case["start"], case["end"], case["size"], hashes(case["proof"]), b64(case["root1"]), b64(case["root2"])
        )
    )
    assert (error is not None) == case["wantErr"], error


def test_generated_proofs_equal_the_reference_happy_paths() -> None:
    """Every numbered happy path is over the reference tree, and generation reproduces its proof exactly."""
    checked = 0
    for path in sorted(VECTORS.glob("*/[0-9]*/happy-path.json")):
        case = json.loads(path.read_text())
        kind = path.parts[-3]
        if kind in ("inclusion", "subtreeinclusion"):
            start, end = case.get("start", 0), case.get("end", case.get("treeSize"))
            got = subtree_inclusion_proof(REFERENCE_LEAVES, case["leafIdx"], start, end)
        elif kind == "consistency":
            got = consistency_proof(REFERENCE_LEAVES, case["size1"], case["size2"])
        else:
            got = subtree_consistency_proof(REFERENCE_LEAVES, case["start"], case["end"], case["size"])
        assert got == hashes(case["proof"]), path
        checked += 1
    assert checked == 20


# --- RFC 6962 reference tree ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(len(REFERENCE_ROOTS)))
def test_the_reference_tree_has_its_published_roots(size: int) -> None:
    """Roots of the 8-leaf reference tree for sizes 0..8, including SHA-256("") for the empty tree."""
    expected = bytes.fromhex(REFERENCE_ROOTS[size])
    assert root(REFERENCE_LEAVES[:size]) == expected
    assert oracle_mth(REFERENCE_ENTRIES[:size]) == expected
    frontier = CompactRange()
    for h in REFERENCE_LEAVES[:size]:
        frontier.append(h)
    assert frontier.root() == expected


def test_leaves_and_nodes_hash_under_different_prefixes() -> None:
    """0x00 for leaves, 0x01 for nodes, so an interior node never hashes like an entry."""
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == root([])


# --- every proof of every tree up to 64 leaves ---------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_inclusion_proof_matches_the_oracle_verifies_and_rejects_every_mutation(size: int) -> None:
    """PATH(m, D[n]) for every leaf verifies; no mutation, other index, leaf, or size (with its own root) does."""
    tree_root = oracle_root(size)
    assert root(LEAVES[:size]) == tree_root
    for index in range(size):
        leaf = LEAVES[index]
        proof = inclusion_proof(LEAVES, index, size)
        assert proof == oracle_path(index, ENTRIES[:size])
        verify_inclusion(leaf, index, size, proof, tree_root)
        forgeries = [
            what
            for what, p in mutations(proof, size <= EXHAUSTIVE_SIZE)
            if accepted(verify_inclusion, leaf, index, size, p, tree_root)
        ]
        other_index = [
            i
            for i in neighbours(index, 0, size + 1, True)
            if accepted(verify_inclusion, leaf, i, size, proof, tree_root)
        ]
        other_size = [
            n
            for n in neighbours(size, index + 1, MAX_SIZE, True)
            if accepted(verify_inclusion, leaf, index, n, proof, oracle_root(n))
        ]
        other_leaf = accepted(verify_inclusion, LEAVES[index - 1], index, size, proof, tree_root)
        assert (forgeries, other_index, other_size, other_leaf) == ([], [], [], False), index


@pytest.mark.parametrize("second", range(1, MAX_SIZE + 1))
def test_every_consistency_proof_matches_the_oracle_verifies_and_rejects_every_mutation(second: int) -> None:
    """PROOF(m, D[n]) for every m <= n verifies; no mutation, other size (with its own root) or swap does."""
    second_root = oracle_root(second)
    for first in range(1, second + 1):
        first_root = oracle_root(first)
        proof = consistency_proof(LEAVES, first, second)
        assert proof == oracle_subproof(first, ENTRIES[:second], True)
        verify_consistency(first, second, first_root, second_root, proof)
        forgeries = [
            what
            for what, p in mutations(proof, second <= EXHAUSTIVE_SIZE)
            if accepted(verify_consistency, first, second, first_root, second_root, p)
        ]
        small = second <= EXHAUSTIVE_SIZE
        other_first = [
            m
            for m in neighbours(first, 0, second + 1, small)
            if accepted(verify_consistency, m, second, oracle_root(min(m, MAX_SIZE)), second_root, proof)
        ]
        other_second = [
            n
            for n in neighbours(second, first, MAX_SIZE, small)
            if accepted(verify_consistency, first, n, first_root, oracle_root(n), proof)
        ]
        swapped = first != second and accepted(verify_consistency, second, first, second_root, first_root, proof)
        assert (forgeries, other_first, other_second, swapped) == ([], [], [], False), first


def test_an_inclusion_proof_binds_the_root_not_the_size() -> None:
    """PATH(1, D[3]) has the shape of PATH(1, D[4]), so with size 4 it still leads to the size-3 root.

    That is why a verifier takes the size and root together from a signed tree head, never the size alone.
    """
    proof = inclusion_proof(LEAVES, 1, 3)
    verify_inclusion(LEAVES[1], 1, 4, proof, oracle_root(3))
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[1], 1, 4, proof, oracle_root(4))


@pytest.mark.parametrize("size", range(1, 33))
def test_every_subtree_proof_of_every_valid_subtree_verifies_and_rejects_every_mutation(size: int) -> None:
    """Subtree consistency and inclusion for every valid [start, end) in the tree; start 0 is plain consistency."""
    tree_root = oracle_root(size)
    for start in range(size):
        for end in range(start + 1, size + 1):
            if not is_valid_subtree(start, end):
                with pytest.raises(ValueError, match="not a valid subtree"):
                    subtree_consistency_proof(LEAVES, start, end, size)
                assert not accepted(verify_subtree_consistency, start, end, size, [], EMPTY_ROOT, tree_root)
                continue
            sub = oracle_mth(ENTRIES[start:end])
            proof = subtree_consistency_proof(LEAVES, start, end, size)
            if start == 0:
                assert proof == consistency_proof(LEAVES, end, size)
            verify_subtree_consistency(start, end, size, proof, sub, tree_root)
            forgeries = [
                what
                for what, p in mutations(proof, size <= EXHAUSTIVE_SIZE)
                if accepted(verify_subtree_consistency, start, end, size, p, sub, tree_root)
            ]
            wrong_sub = accepted(verify_subtree_consistency, start, end, size, proof, node_hash(sub, sub), tree_root)
            assert (forgeries, wrong_sub) == ([], False), (start, end)
            for index in range(start, end):
                path = subtree_inclusion_proof(LEAVES, index, start, end)
                verify_subtree_inclusion(LEAVES[index], index, start, end, path, sub)
                assert not accepted(
                    verify_subtree_inclusion, LEAVES[index], index, start, end, path, node_hash(sub, sub)
                )


# --- generation from a store, the compact range, ranges -----------------------------------------------------------


def test_proofs_from_stored_perfect_subtrees_equal_proofs_from_the_leaves() -> None:
    """The nodes `CompactRange.append` completes are enough to serve every proof without reading a leaf."""
    store: dict[tuple[int, int], bytes] = {}
    frontier = CompactRange()
    from_store = node_range_hash(lambda level, index: store[(level, index)])
    for size in range(1, MAX_SIZE + 1):
        for node in frontier.append(LEAVES[size - 1]):
            store[(node.level, node.index)] = node.hash
        assert frontier.size == size
        assert frontier.root() == oracle_root(size) == from_store(0, size)
        for index in range(size):
            assert inclusion_proof(from_store, index, size) == inclusion_proof(LEAVES, index, size)
        for first in range(1, size + 1):
            assert consistency_proof(from_store, first, size) == consistency_proof(LEAVES, first, size)
    assert len(store) == 2 * MAX_SIZE - 1
    with pytest.raises(ValueError, match="not a node"):
        from_store(1, 3)


def test_a_compact_range_resumes_from_its_persisted_state() -> None:
    """Size plus one hash per set bit of the size is the whole state of a log writer."""
    first = CompactRange()
    for h in LEAVES[:45]:
        first.append(h)
    assert len(first.hashes) == bin(45).count("1")
    resumed = CompactRange(first.size, first.hashes)
    for h in LEAVES[45:]:
        resumed.append(h)
    assert resumed.root() == oracle_root(MAX_SIZE)
    with pytest.raises(ValueError, match="holds 4 hashes, got 3"):
        CompactRange(45, first.hashes[:3])
    with pytest.raises(ValueError, match="31 bytes"):
        CompactRange().append(b"x" * 31)


def test_any_range_of_records_is_checked_against_the_tree_head_through_its_subtrees() -> None:
    """[a, b) tiles into valid subtrees; each one's hash from the records plus its proof reaches the signed root."""
    size, tree_root = MAX_SIZE, oracle_root(MAX_SIZE)
    store: dict[tuple[int, int], bytes] = {}
    frontier = CompactRange()
    for h in LEAVES:
        store.update({(n.level, n.index): n.hash for n in frontier.append(h)})
    from_store = node_range_hash(lambda level, index: store[(level, index)])
    for a in range(size + 1):
        for b in range(a, size + 1):
            parts = split_into_subtrees(a, b)
            assert [i for s, e in parts for i in range(s, e)] == list(range(a, b))
            assert all(is_valid_subtree(s, e) for s, e in parts)
            assert len(parts) <= max(b, 1).bit_length()
            for s, e in parts:
                proof = subtree_consistency_proof(from_store, s, e, size)
                verify_subtree_consistency(s, e, size, proof, root(LEAVES[s:e]), tree_root)


def test_generation_refuses_what_no_tree_has() -> None:
    """Bad arguments to the generators are ValueErrors: the caller's mistake, not a failed proof."""
    with pytest.raises(ValueError, match="outside a tree of size 4"):
        inclusion_proof(LEAVES, 4, 4)
    with pytest.raises(ValueError, match="need 0 < first <= second"):
        consistency_proof(LEAVES, 0, 4)
    with pytest.raises(ValueError, match="need 0 < first <= second"):
        consistency_proof(LEAVES, 5, 4)
    with pytest.raises(ValueError, match="exceeds the 8 leaf hashes"):
        inclusion_proof(LEAVES[:8], 0, 9)
    with pytest.raises(ValueError, match="not in a valid subtree"):
        subtree_inclusion_proof(LEAVES, 3, 3, 5)
    assert consistency_proof(LEAVES, 5, 5) == []
    assert subtree_consistency_proof(LEAVES, 3, 3, 5) == []
    with pytest.raises(ValueError, match=r"not a range"):
        split_into_subtrees(3, 2)


def test_errors_name_the_check_that_failed() -> None:
    """A verifier's message says what is wrong, so an operator can tell a bad request from a lying log."""
    proof = inclusion_proof(LEAVES, 3, 8)
    with pytest.raises(ProofError, match="leaf index 8 is outside a tree of size 8"):
        verify_inclusion(LEAVES[3], 8, 8, proof, oracle_root(8))
    with pytest.raises(ProofError, match="has 3 hashes, got 4"):
        verify_inclusion(LEAVES[3], 3, 8, [*proof, LEAVES[0]], oracle_root(8))
    with pytest.raises(ProofError, match="proof hash 1 is 31 bytes, not 32"):
        verify_inclusion(LEAVES[3], 3, 8, [proof[0], proof[1][:31], proof[2]], oracle_root(8))
    with pytest.raises(ProofError, match="leaf hash is 0 bytes"):
        root_from_inclusion_proof(b"", 3, 8, proof)
    with pytest.raises(ProofError, match="the log cannot shrink"):
        verify_consistency(5, 4, oracle_root(5), oracle_root(4), [])
    with pytest.raises(ProofError, match="proves nothing"):
        verify_consistency(0, 4, EMPTY_ROOT, oracle_root(4), [])


# --- a malicious server --------------------------------------------------------------------------------------------


def test_a_server_that_rewrote_a_record_cannot_prove_it_against_the_signed_root() -> None:
    """The client holds the root it was signed; the server's honest-looking proof over the edited log fails."""
    signed_root = oracle_root(MAX_SIZE)
    tampered = list(LEAVES)
    tampered[17] = leaf_hash(b"audit record 17, edited")
    forged = inclusion_proof(tampered, 17, MAX_SIZE)
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(tampered[17], 17, MAX_SIZE, forged, signed_root)
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(tampered[17], 17, MAX_SIZE, inclusion_proof(LEAVES, 17, MAX_SIZE), signed_root)
    verify_inclusion(tampered[17], 17, MAX_SIZE, forged, root(tampered))  # internally consistent, and still caught


def test_a_server_cannot_prove_a_record_that_was_never_logged() -> None:
    """A real path for a slot, offered for a different entry, does not reach the root."""
    for index in (0, 31, 63):
        proof = inclusion_proof(LEAVES, index, MAX_SIZE)
        with pytest.raises(ProofError):
            verify_inclusion(leaf_hash(b"never logged"), index, MAX_SIZE, proof, oracle_root(MAX_SIZE))


def test_a_forked_log_fails_consistency_with_the_head_the_client_saw_first() -> None:
    """The server shows size 40, then a size-64 tree whose record 5 differs; no proof it can make links the two."""
    first_root = oracle_root(40)
    forked = list(LEAVES)
    forked[5] = leaf_hash(b"audit record 5, rewritten")
    forked_root = root(forked)
    with pytest.raises(ProofError, match="history changed"):
        verify_consistency(40, MAX_SIZE, first_root, forked_root, consistency_proof(forked, 40, MAX_SIZE))
    with pytest.raises(ProofError):
        verify_consistency(40, MAX_SIZE, first_root, forked_root, consistency_proof(LEAVES, 40, MAX_SIZE))
    with pytest.raises(ProofError, match="forked"):
        verify_consistency(MAX_SIZE, MAX_SIZE, oracle_root(MAX_SIZE), forked_root, [])


def test_a_subtree_proof_from_a_forked_log_does_not_reach_the_signed_root() -> None:
    """Records 32..47 are untouched, but the proof carries the forked hash of 48..63, so it misses the real root."""
    forked = list(LEAVES)
    forked[50] = leaf_hash(b"audit record 50, rewritten")
    proof = subtree_consistency_proof(forked, 32, 48, MAX_SIZE)
    verify_subtree_consistency(32, 48, MAX_SIZE, proof, root(LEAVES[32:48]), root(forked))
    with pytest.raises(ProofError, match="does not lead to the root"):
        verify_subtree_consistency(32, 48, MAX_SIZE, proof, root(LEAVES[32:48]), oracle_root(MAX_SIZE))


def test_an_interior_node_cannot_pass_for_a_record() -> None:
    """Second preimage: the bytes left||right, offered as a record, hash as a leaf and not as the node they copy."""
    left, right = root(LEAVES[0:2]), root(LEAVES[2:4])
    path = [root(LEAVES[4:8])]
    # Read as a 2-leaf tree over nodes, the node does chain to the root; without 0x00/0x01 it would be the leaf hash.
    verify_inclusion(node_hash(left, right), 0, 2, path, oracle_root(8))
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(leaf_hash(left + right), 0, 2, path, oracle_root(8))


def test_the_inclusion_proof_length_formula_matches_the_proof_for_every_leaf_up_to_130() -> None:
    from llmops.merkle import _inclusion_length, _path

    for size in range(1, 131):
        for index in range(size):
            assert _inclusion_length(index, size) == len(_path(index, 0, size)), (index, size)
