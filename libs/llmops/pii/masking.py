"""PII masking policies applied to detected spans; pure, no I/O (ingestion masks documents with them).

The detector (Presidio) finds spans; this module decides what replaces them, so every policy is testable
without a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class MaskingPolicy(StrEnum):
    """What happens to personal data found in a dataset's documents."""

    KEEP = "keep"  # store as is (public corpora)
    MASK = "mask"  # replace with the entity type: <EMAIL_ADDRESS>
    REDACT = "redact"  # remove, leaving a neutral marker: [redacted]
    PSEUDONYMISE = "pseudonymise"  # replace with a stable alias per tenant: <PERSON_3f9a1c>


ENTITY_TYPES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "CRYPTO",
    "LOCATION",
    "NRP",
    "MEDICAL_LICENSE",
    "URL",
)
"""Presidio's global entity types (dates are left alone: they carry meaning documents are searched for)."""


@dataclass(frozen=True)
class Span:
    """A detected entity: [start, end) in the text."""

    start: int
    end: int
    entity_type: str
    score: float = 1.0


def _non_overlapping(spans: Iterable[Span]) -> list[Span]:
    """Longest, most confident spans win where detections overlap."""
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), -s.score, s.start)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def pseudonym(entity_type: str, value: str, salt: str) -> str:
    """A stable alias for a value within a salt (the tenant): the same person in a document and in a question
    becomes the same `<PERSON_3f9a1c>`, so masked text still matches masked text."""
    alias = hashlib.sha256(f"{salt}\x00{entity_type}\x00{value}".encode()).hexdigest()[:6]
    return f"<{entity_type}_{alias}>"


def apply_policy(text: str, spans: Iterable[Span], policy: MaskingPolicy, salt: str) -> str:
    """The text with each detected entity replaced as the policy says."""
    if policy is MaskingPolicy.KEEP:
        return text
    pieces: list[str] = []
    cursor = 0
    for span in _non_overlapping(spans):
        pieces.append(text[cursor : span.start])
        value = text[span.start : span.end]
        if policy is MaskingPolicy.MASK:
            pieces.append(f"<{span.entity_type}>")
        elif policy is MaskingPolicy.REDACT:
            pieces.append("[redacted]")
        else:
            pieces.append(pseudonym(span.entity_type, value, salt))
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)
