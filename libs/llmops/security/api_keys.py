"""API keys: issued once in plaintext, stored only as a salted scrypt hash, verified into a `Principal`.

A key reads `llm_<key id>_<secret>`: the key id (16 hex characters) finds the stored record, the secret
(`secrets.token_urlsafe(32)`, 256 bits) is what proves possession. The record keeps the scrypt hash of the secret
with a per-key salt, never the secret.

Cost: scrypt with n=2**14, r=8, p=1 (16 MiB, about 50 ms on one core). The secret is random with 256 bits of
entropy, so the hash is not what stops guessing; the KDF makes a leaked key file useless even for short or reused
secrets an operator might import. The cost is recorded per key, so it can be raised without reissuing keys, and
`ApiKeyVerifier` pays it once per key and process rather than on every call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmops.auth import Principal
from llmops.errors import InvalidArgument, Unauthenticated
from llmops.events import Classification
from llmops.security.roles import Role

KEY_PREFIX = "llm_"
_KEY = re.compile(r"^llm_([0-9a-f]{16})_([A-Za-z0-9_-]{20,128})$")
TENANT_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_MALFORMED = "API key is malformed; expected llm_<key id>_<secret>"
_NOT_VALID = "API key is not valid"


class KdfParams(BaseModel):
    """How a secret was hashed; stored with each record so the cost can change per key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["scrypt"] = "scrypt"
    """The key-derivation function."""
    n: int = Field(default=2**14, ge=2**10, le=2**20)
    """CPU/memory cost (a power of two)."""
    r: int = Field(default=8, ge=1, le=32)
    """Block size."""
    p: int = Field(default=1, ge=1, le=16)
    """Parallelism."""
    dklen: int = Field(default=32, ge=16, le=64)
    """Length of the derived hash in bytes."""

    @field_validator("n")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError("n must be a power of two")
        return value

    def derive(self, secret: str, salt: bytes) -> bytes:
        """The hash of `secret` with `salt` under these parameters."""
        return hashlib.scrypt(
            secret.encode(), salt=salt, n=self.n, r=self.r, p=self.p, dklen=self.dklen, maxmem=256 * 1024 * 1024
        )


DEFAULT_KDF = KdfParams()


class ApiKeyRecord(BaseModel):
    """What the platform stores about one key: who it speaks for, and a hash of its secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    """Public identifier, the part of the key between `llm_` and the secret."""
    salt: str = Field(pattern=r"^[0-9a-f]{32,128}$")
    """Per-key random salt, hex."""
    digest: str = Field(pattern=r"^[0-9a-f]{32,128}$")
    """scrypt(secret, salt) under `kdf`, hex."""
    kdf: KdfParams = DEFAULT_KDF
    """The hash's parameters."""
    tenant: str = Field(pattern=TENANT_PATTERN)
    """The tenant every call with this key acts in."""
    subject: str = Field(min_length=1, max_length=256)
    """Who holds the key (a person, a service or a product backend)."""
    roles: tuple[Role, ...] = ()
    """Roles granted; see `llmops.security.roles`."""
    groups: tuple[str, ...] = ()
    """Groups for document access control."""
    clearance: Classification = Classification.PUBLIC
    """Highest classification the holder may read."""
    created_at: datetime
    """When the key was issued (UTC)."""
    expires_at: datetime | None = None
    """After this instant the key is refused; None = no expiry."""
    revoked: bool = False
    """A revoked key is refused; records are kept for the audit trail."""
    description: str = ""
    """Operator's note: what the key is for."""

    @field_validator("created_at", "expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must carry a timezone")
        return value

    def principal(self) -> Principal:
        """The principal a call made with this key acts as."""
        return Principal(
            tenant=self.tenant,
            subject=self.subject,
            roles=tuple(r.value for r in self.roles),
            groups=self.groups,
            clearance=self.clearance,
            extra={"auth": "api_key", "key_id": self.key_id},
        )


KeyLookup = Callable[[str], ApiKeyRecord | None]
"""Finds a record by key id (e.g. `KeyStore.get`)."""


def issue_key(
    tenant: str,
    subject: str,
    *,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    clearance: Classification = Classification.PUBLIC,
    expires_at: datetime | None = None,
    description: str = "",
    kdf: KdfParams = DEFAULT_KDF,
    now: datetime | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A new key: the plaintext to hand over once, and the record to store.

    Raises:
        InvalidArgument: an unknown role, a malformed tenant, or an expiry not in the future.
    """
    issued = now or datetime.now(UTC)
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= issued):
        raise InvalidArgument("expires_at must be a timezone-aware instant in the future")
    known = {r.value for r in Role}
    unknown = sorted(set(roles) - known)
    if unknown:
        raise InvalidArgument(f"unknown roles {unknown}; use {sorted(known)}")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    try:
        record = ApiKeyRecord(
            key_id=key_id,
            salt=salt.hex(),
            digest=kdf.derive(secret, salt).hex(),
            kdf=kdf,
            tenant=tenant,
            subject=subject,
            roles=tuple(Role(r) for r in roles),
            groups=tuple(groups),
            clearance=clearance,
            created_at=issued,
            expires_at=expires_at,
            description=description,
        )
    except ValueError as exc:
        raise InvalidArgument(f"cannot issue a key: {exc}") from None
    return f"{KEY_PREFIX}{key_id}_{secret}", record


def parse_key(plaintext: str) -> tuple[str, str]:
    """Splits a key into key id and secret.

    Raises:
        Unauthenticated: not of the form `llm_<key id>_<secret>` (the message never repeats the input).
    """
    match = _KEY.match(plaintext.strip())
    if match is None:
        raise Unauthenticated(_MALFORMED)
    return match.group(1), match.group(2)


def secret_matches(record: ApiKeyRecord, secret: str) -> bool:
    """Whether `secret` hashes to the record's digest; compared in constant time."""
    derived = record.kdf.derive(secret, bytes.fromhex(record.salt))
    return hmac.compare_digest(derived, bytes.fromhex(record.digest))


def check_usable(record: ApiKeyRecord, now: datetime | None = None) -> None:
    """Refuses a revoked or expired record; only called once the secret has been proven.

    Raises:
        Unauthenticated: revoked or expired.
    """
    if record.revoked:
        raise Unauthenticated("API key has been revoked")
    if record.expires_at is not None and record.expires_at <= (now or datetime.now(UTC)):
        raise Unauthenticated("API key has expired")


def verify_key(plaintext: str, lookup: KeyLookup, *, now: datetime | None = None) -> Principal:
    """The principal behind an API key; always pays the full hash (see `ApiKeyVerifier` for the cached path).

    Raises:
        Unauthenticated: malformed, unknown, wrong secret, revoked or expired; the message never repeats the key.
    """
    key_id, secret = parse_key(plaintext)
    record = lookup(key_id)
    if record is None:
        # Same work as a real check, so response time does not tell which key ids exist.
        DEFAULT_KDF.derive(secret, b"\0" * 16)
        raise Unauthenticated(_NOT_VALID)
    if not secret_matches(record, secret):
        raise Unauthenticated(_NOT_VALID)
    check_usable(record, now)
    return record.principal()


class ApiKeyVerifier:
    """Verifies keys against a store, paying the scrypt cost once per key and process.

    After a key's first successful check the verifier keeps SHA-256 of its secret (never the secret) with the
    digest it matched. Later calls look the record up again, so revocation, expiry and role changes apply at once,
    and compare SHA-256 of the presented secret in constant time; a changed record or a different secret takes the
    full scrypt path. Safe to call from several threads.
    """

    def __init__(
        self,
        lookup: KeyLookup,
        *,
        cache_size: int = 4096,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._cache_size = cache_size
        self._proven: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, plaintext: str) -> Principal:
        """The principal behind `plaintext`; CPU-bound on a cache miss, so call it from a worker thread.

        Raises:
            Unauthenticated: as `verify_key`.
        """
        key_id, secret = parse_key(plaintext)
        record = self._lookup(key_id)
        if record is None:
            DEFAULT_KDF.derive(secret, b"\0" * 16)
            raise Unauthenticated(_NOT_VALID)
        fast = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            proven = self._proven.get(key_id)
        if proven is None or proven[0] != record.digest or not hmac.compare_digest(proven[1], fast):
            if not secret_matches(record, secret):
                raise Unauthenticated(_NOT_VALID)
            with self._lock:
                self._proven[key_id] = (record.digest, fast)
                self._proven.move_to_end(key_id)
                while len(self._proven) > self._cache_size:
                    self._proven.popitem(last=False)
        check_usable(record, self._clock())
        return record.principal()
