"""Signed tree heads: the 50-byte layout, Ed25519 signing and verification, key loading and key ids, and a client
that trusts nothing the server says beyond what the signed head commits to."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmops.merkle import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from llmops.tree_head import (
    SERIALISED_SIZE,
    SignatureError,
    TreeHead,
    key_id,
    load_private_key,
    load_public_key,
    private_key_from_seed,
    public_key_bytes,
    public_key_pem,
    sign_tree_head,
    verify_tree_head,
)

pytestmark = pytest.mark.unit

# RFC 8032 §7.1, test 1: the seed, its public key, and the signature of the empty message.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_EMPTY_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)

ENTRIES = [f"audit record {i}".encode() for i in range(20)]
LEAVES = [leaf_hash(e) for e in ENTRIES]
KEY = private_key_from_seed(bytes(range(32)))
HEAD = TreeHead(tree_size=20, root_hash=root(LEAVES), timestamp_ms=1_793_534_400_000)


def test_a_head_serialises_to_rfc_6962s_tree_head_signature_layout() -> None:
    """version 0, signature_type 1, then timestamp, size and root, fixed-width and big-endian."""
    data = HEAD.to_bytes()
    assert len(data) == SERIALISED_SIZE == 50
    assert data == b"\x00\x01" + struct.pack(">QQ", HEAD.timestamp_ms, HEAD.tree_size) + HEAD.root_hash
    assert TreeHead.from_bytes(data) == HEAD


def test_parsing_refuses_anything_but_a_v1_tree_head() -> None:
    """A wrong length, version or signature type is not a tree head."""
    with pytest.raises(ValueError, match="50 bytes, got 49"):
        TreeHead.from_bytes(HEAD.to_bytes()[:-1])
    with pytest.raises(ValueError, match="version 1"):
        TreeHead.from_bytes(b"\x01" + HEAD.to_bytes()[1:])
    with pytest.raises(ValueError, match="signature type 0"):
        TreeHead.from_bytes(b"\x00\x00" + HEAD.to_bytes()[2:])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tree_size", -1, "tree_size -1 does not fit"),
        ("tree_size", 1 << 64, "does not fit an unsigned 64-bit integer"),
        ("timestamp_ms", -5, "timestamp_ms -5 does not fit"),
        ("root_hash", b"\x00" * 31, "31 bytes, not 32"),
    ],
)
def test_a_head_the_layout_cannot_carry_is_refused(field: str, value: Any, message: str) -> None:
    """Every head that can be built can be signed and parsed back unchanged."""
    with pytest.raises(ValueError, match=message):
        replace(HEAD, **{field: value})


def test_the_seed_is_an_rfc_8032_private_key() -> None:
    """The 32-byte seed gives RFC 8032's public key and signatures, so any Ed25519 library can check a head."""
    key = private_key_from_seed(RFC8032_SEED)
    assert public_key_bytes(key) == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_EMPTY_SIGNATURE


def test_a_signed_head_verifies_under_its_key_as_an_object_raw_bytes_or_pem() -> None:
    """The signature is 64 bytes over `to_bytes()`; the public key may come in any of its published forms."""
    signature = sign_tree_head(HEAD, KEY)
    assert len(signature) == 64
    verify_tree_head(HEAD, signature, KEY.public_key())
    verify_tree_head(HEAD, signature, public_key_bytes(KEY))
    verify_tree_head(HEAD, signature, public_key_pem(KEY))
    KEY.public_key().verify(signature, HEAD.to_bytes())


@pytest.mark.parametrize(
    "changed",
    [
        replace(HEAD, tree_size=HEAD.tree_size + 1),
        replace(HEAD, tree_size=HEAD.tree_size - 1),
        replace(HEAD, tree_size=0),
        replace(HEAD, timestamp_ms=HEAD.timestamp_ms + 1),
        replace(HEAD, timestamp_ms=0),
        replace(HEAD, root_hash=root(LEAVES[:19])),
        replace(HEAD, root_hash=bytes(32)),
    ],
    ids=["size+1", "size-1", "size=0", "timestamp+1", "timestamp=0", "older root", "zero root"],
)
def test_a_signature_does_not_carry_over_to_a_changed_head(changed: TreeHead) -> None:
    """Size, timestamp and root are all signed."""
    with pytest.raises(SignatureError, match="does not match tree head"):
        verify_tree_head(changed, sign_tree_head(HEAD, KEY), KEY.public_key())


def test_every_flipped_byte_of_the_signature_is_rejected() -> None:
    """As are a truncated and an extended signature."""
    signature = sign_tree_head(HEAD, KEY)
    for i in range(len(signature)):
        forged = bytearray(signature)
        forged[i] ^= 0x01
        with pytest.raises(SignatureError):
            verify_tree_head(HEAD, bytes(forged), KEY.public_key())
    with pytest.raises(SignatureError, match="64 bytes, got 63"):
        verify_tree_head(HEAD, signature[:-1], KEY.public_key())
    with pytest.raises(SignatureError, match="64 bytes, got 65"):
        verify_tree_head(HEAD, signature + b"\x00", KEY.public_key())


def test_a_head_signed_by_another_key_is_rejected() -> None:
    """Another log's key, a corrupted key and a key of the wrong length all fail, as SignatureError."""
    signature = sign_tree_head(HEAD, KEY)
    with pytest.raises(SignatureError, match="under key"):
        verify_tree_head(HEAD, signature, Ed25519PrivateKey.generate().public_key())
    corrupted = bytearray(public_key_bytes(KEY))
    corrupted[0] ^= 0x01
    with pytest.raises(SignatureError):
        verify_tree_head(HEAD, signature, bytes(corrupted))
    with pytest.raises(SignatureError, match="32 bytes, got 31"):
        verify_tree_head(HEAD, signature, public_key_bytes(KEY)[:31])
    with pytest.raises(SignatureError):
        verify_tree_head(HEAD, sign_tree_head(HEAD, Ed25519PrivateKey.generate()), KEY.public_key())


def test_keys_load_from_a_seed_or_a_pem_and_name_the_same_log() -> None:
    """A secret store may hold the seed or a PKCS#8 PEM (encrypted or not); the key id is SHA-256 of the raw key."""
    seed = bytes(range(32))
    unencrypted = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    encrypted = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    loaded = [load_private_key(seed), load_private_key(unencrypted), load_private_key(encrypted, password=b"pw")]
    assert {public_key_bytes(k) for k in loaded} == {public_key_bytes(KEY)}
    expected = hashlib.sha256(public_key_bytes(KEY)).digest()
    public_forms = (KEY, KEY.public_key(), public_key_bytes(KEY), load_public_key(public_key_pem(KEY)))
    assert {key_id(k) for k in public_forms} == {expected}
    assert public_key_bytes(load_public_key(public_key_bytes(KEY))) == public_key_bytes(KEY)


def test_key_material_that_is_not_ed25519_is_refused() -> None:
    """A seed of the wrong length, or a PEM holding another algorithm's key, is a configuration error."""
    other = ec.generate_private_key(ec.SECP256R1())
    other_private = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    other_public = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="seed is 32 bytes, got 31"):
        load_private_key(bytes(31))
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        load_private_key(other_private)
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        load_public_key(other_public)
    with pytest.raises(ValueError, match="32 bytes, got 33"):
        key_id(bytes(33))


def test_a_client_checks_a_record_and_the_logs_growth_against_signed_heads_only() -> None:
    """What the server sends besides the signed heads (proofs, sizes, roots) is checked, never trusted."""
    public = public_key_bytes(KEY)
    old_head = TreeHead(tree_size=12, root_hash=root(LEAVES[:12]), timestamp_ms=HEAD.timestamp_ms - 60_000)
    old_signature, signature = sign_tree_head(old_head, KEY), sign_tree_head(HEAD, KEY)

    verify_tree_head(HEAD, signature, public)
    verify_inclusion(LEAVES[7], 7, HEAD.tree_size, inclusion_proof(LEAVES, 7, HEAD.tree_size), HEAD.root_hash)
    verify_tree_head(old_head, old_signature, public)
    proof = consistency_proof(LEAVES, old_head.tree_size, HEAD.tree_size)
    verify_consistency(old_head.tree_size, HEAD.tree_size, old_head.root_hash, HEAD.root_hash, proof)

    # The server edits record 7 and proves it against a root of its own making: that head carries no valid signature.
    tampered = list(LEAVES)
    tampered[7] = leaf_hash(b"audit record 7, edited")
    forged_head = replace(HEAD, root_hash=root(tampered))
    verify_inclusion(tampered[7], 7, 20, inclusion_proof(tampered, 7, 20), forged_head.root_hash)
    with pytest.raises(SignatureError):
        verify_tree_head(forged_head, signature, public)
    with pytest.raises(ProofError):
        verify_inclusion(tampered[7], 7, 20, inclusion_proof(tampered, 7, 20), HEAD.root_hash)
    # Replaying the old head's signature on a new head fails too.
    with pytest.raises(SignatureError):
        verify_tree_head(HEAD, old_signature, public)
