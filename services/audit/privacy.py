"""Personal fields in the audit log: encrypted per data subject, unreadable once their key is destroyed; pure.

The text a person wrote or was shown (a question, an answer, a feedback comment) is already masked upstream, and
is also encrypted here with AES-256-GCM under a key for (tenant, subject, event type, day). The Merkle leaf hashes
the ciphertext, so destroying keys changes nothing the verifier checks: `Erase(subject)` destroys every key of a
person (crypto-shredding), and a retention policy destroys the keys of an event type's old days. Without its key a
field reads `[erased]`; the record, its position and its proof stay.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from llmops.events import FeedbackReceived, InteractionCompleted
from services.audit.core import NewRecord

PERSONAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    InteractionCompleted.type: ("query", "answer"),
    FeedbackReceived.type: ("comment", "corrected_answer"),
}
"""Per event type, the payload fields that hold what a person wrote or read."""
ENCRYPTED = "enc:v1:"
ERASED = "[erased]"
NONCE_BYTES = 12


@dataclass(frozen=True, order=True)
class KeyRef:
    """Which key a record's personal fields are encrypted under."""

    tenant: str
    subject: str
    event_type: str
    day: str
    """YYYY-MM-DD of the event time (UTC): retention destroys whole days."""

    @classmethod
    def of(cls, record: NewRecord) -> KeyRef:
        day = record.time.astimezone(UTC).date() if record.time.tzinfo else record.time.date()
        return cls(record.tenant, record.user, record.event_type, day.isoformat())

    def aad(self) -> bytes:
        """Binds a ciphertext to its key's scope: a field moved to another record will not decrypt."""
        return "\x00".join((self.tenant, self.subject, self.event_type, self.day)).encode()


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def has_personal_fields(event_type: str) -> bool:
    return event_type in PERSONAL_FIELDS


def encrypt_personal(payload_json: str, event_type: str, ref: KeyRef, key: bytes) -> str:
    """The payload with its personal fields replaced by `enc:v1:<base64 nonce‖ciphertext>`."""
    fields = PERSONAL_FIELDS.get(event_type, ())
    payload = json.loads(payload_json)
    for name in fields:
        value = payload.get(name)
        if isinstance(value, str) and value:
            nonce = os.urandom(NONCE_BYTES)
            sealed = AESGCM(key).encrypt(nonce, value.encode(), ref.aad() + name.encode())
            payload[name] = ENCRYPTED + base64.b64encode(nonce + sealed).decode()
    return json.dumps(payload, ensure_ascii=False)


def decrypt_personal(payload_json: str, event_type: str, ref: KeyRef, key: bytes | None) -> str:
    """The payload readable again, or with `[erased]` where the key no longer exists."""
    fields = PERSONAL_FIELDS.get(event_type, ())
    if not fields:
        return payload_json
    payload = json.loads(payload_json)
    for name in fields:
        value = payload.get(name)
        if not (isinstance(value, str) and value.startswith(ENCRYPTED)):
            continue
        if key is None:
            payload[name] = ERASED
            continue
        raw = base64.b64decode(value[len(ENCRYPTED) :])
        try:
            payload[name] = (
                AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], ref.aad() + name.encode()).decode()
            )
        except InvalidTag:
            payload[name] = ERASED  # not this record's key: never show another scope's text
    return json.dumps(payload, ensure_ascii=False)
