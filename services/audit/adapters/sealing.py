"""The log's signing key: Ed25519 from settings, or a key file created once for the embedded default."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmops.logging import get_logger
from llmops.tree_head import TreeHead, key_id, load_private_key, public_key_bytes, sign_tree_head
from services.audit.ledger import SignedHead

log = get_logger(__name__)


class Ed25519Sealer:
    """Signs tree heads at the current time; only the public key is ever exposed."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = public_key_bytes(private_key)

    def seal(self, tree_size: int, root_hash: bytes) -> SignedHead:
        head = TreeHead(tree_size=tree_size, root_hash=root_hash, timestamp_ms=time.time_ns() // 1_000_000)
        return SignedHead(head, sign_tree_head(head, self._key))


def load_or_create_key(material: str, path: Path) -> Ed25519PrivateKey:
    """The key from `material` (PEM, or a 64-hex-digit seed) when set; else the PEM at `path`, created with
    mode 0600 on first start (fine for one embedded node; production passes the key from a secret store)."""
    if material.strip():
        text = material.strip()
        is_seed = len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)
        return load_private_key(bytes.fromhex(text) if is_seed else text.encode())
    if path.exists():
        return load_private_key(path.read_bytes())
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    log.info("audit signing key created", path=str(path), key_id=key_id(key).hex())
    return key
