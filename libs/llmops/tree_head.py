"""Signed tree heads of the audit log: a fixed 50-byte serialisation, Ed25519 signatures and key handling.

A tree head commits the log to its size and root at a moment. It is signed over RFC 6962's TreeHeadSignature
layout (§3.5), every field fixed-width and big-endian, so two different heads never serialise alike:

    offset  size  field
    0       1     version          0 (v1)
    1       1     signature_type   1 (tree_hash)
    2       8     timestamp        milliseconds since the Unix epoch, uint64
    10      8     tree_size        uint64
    18      32    root_hash        SHA-256 Merkle tree hash (RFC 6962 §2.1)

The signature is plain Ed25519 (RFC 8032) over those 50 bytes. A log is named by its `key_id`, SHA-256 of the raw
32-byte public key, which clients pin; one key signs for one log, so a head cannot be replayed as another log's.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION_V1 = 0
SIGNATURE_TYPE_TREE_HASH = 1
SERIALISED_SIZE = 50
SIGNATURE_SIZE = 64
KEY_SIZE = 32
_LAYOUT = struct.Struct(">BBQQ32s")
_UINT64_LIMIT = 1 << 64


class SignatureError(ValueError):
    """A tree head's signature does not verify under the given key; the message says why."""


@dataclass(frozen=True)
class TreeHead:
    """The log's size and Merkle root at `timestamp_ms` (milliseconds since the Unix epoch, UTC)."""

    tree_size: int
    root_hash: bytes
    timestamp_ms: int

    def __post_init__(self) -> None:
        """Rejects what the 50-byte layout cannot carry, so every head that exists can be signed."""
        for name in ("tree_size", "timestamp_ms"):
            value = getattr(self, name)
            if not 0 <= value < _UINT64_LIMIT:
                raise ValueError(f"{name} {value} does not fit an unsigned 64-bit integer")
        if len(self.root_hash) != 32:
            raise ValueError(f"root_hash is {len(self.root_hash)} bytes, not 32")

    def to_bytes(self) -> bytes:
        """The signed serialisation: RFC 6962's TreeHeadSignature layout, 50 bytes."""
        return _LAYOUT.pack(VERSION_V1, SIGNATURE_TYPE_TREE_HASH, self.timestamp_ms, self.tree_size, self.root_hash)

    @classmethod
    def from_bytes(cls, data: bytes) -> TreeHead:
        """Parses `to_bytes` output; anything else raises ValueError."""
        if len(data) != SERIALISED_SIZE:
            raise ValueError(f"a serialised tree head is {SERIALISED_SIZE} bytes, got {len(data)}")
        version, signature_type, timestamp_ms, tree_size, root_hash = _LAYOUT.unpack(data)
        if (version, signature_type) != (VERSION_V1, SIGNATURE_TYPE_TREE_HASH):
            raise ValueError(f"not a v1 tree head: version {version}, signature type {signature_type}")
        return cls(tree_size=tree_size, root_hash=root_hash, timestamp_ms=timestamp_ms)


def sign_tree_head(head: TreeHead, private_key: Ed25519PrivateKey) -> bytes:
    """The 64-byte Ed25519 signature over `head.to_bytes()`."""
    return private_key.sign(head.to_bytes())


def verify_tree_head(head: TreeHead, signature: bytes, public_key: Ed25519PublicKey | bytes) -> None:
    """Raises `SignatureError` unless `signature` is the key's signature over this exact head."""
    try:
        key = load_public_key(public_key) if isinstance(public_key, bytes) else public_key
    except ValueError as e:
        raise SignatureError(f"no Ed25519 public key to verify with: {e}") from None
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError(f"an Ed25519 signature is {SIGNATURE_SIZE} bytes, got {len(signature)}")
    try:
        key.verify(signature, head.to_bytes())
    except InvalidSignature:
        raise SignatureError(
            f"the signature does not match tree head size={head.tree_size} root={head.root_hash.hex()} "
            f"timestamp_ms={head.timestamp_ms} under key {key_id(key).hex()}"
        ) from None


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """The key whose RFC 8032 private seed is these 32 bytes (the form a secret store keeps)."""
    if len(seed) != KEY_SIZE:
        raise ValueError(f"an Ed25519 seed is {KEY_SIZE} bytes, got {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_private_key(material: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM (PKCS#8, optionally encrypted) or a raw 32-byte seed."""
    if not material.lstrip().startswith(b"-----BEGIN"):
        return private_key_from_seed(material)
    key = serialization.load_pem_private_key(material, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"the PEM holds a {type(key).__name__}, not an Ed25519 private key")  # noqa: TRY004 - bad key material
    return key


def load_public_key(material: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) or its raw 32 bytes."""
    if not material.lstrip().startswith(b"-----BEGIN"):
        if len(material) != KEY_SIZE:
            raise ValueError(f"a raw Ed25519 public key is {KEY_SIZE} bytes, got {len(material)}")
        return Ed25519PublicKey.from_public_bytes(material)
    key = serialization.load_pem_public_key(material)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"the PEM holds a {type(key).__name__}, not an Ed25519 public key")  # noqa: TRY004 - bad key material
    return key


def public_key_bytes(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key, as published beside the tree heads."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The public key as a SubjectPublicKeyInfo PEM, for tools that want one."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> bytes:
    """SHA-256 of the raw public key: the log's name, which clients pin to pick the key a head must verify under."""
    raw = key if isinstance(key, bytes) else public_key_bytes(key)
    if len(raw) != KEY_SIZE:
        raise ValueError(f"a raw Ed25519 public key is {KEY_SIZE} bytes, got {len(raw)}")
    return hashlib.sha256(raw).digest()
