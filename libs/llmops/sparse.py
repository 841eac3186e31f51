"""Sparse term vectors for hybrid search: hashed terms with log-scaled frequencies; Qdrant applies IDF.

Pure and deterministic, so the embedding worker (documents) and retrieval (queries) agree without sharing state.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass

_TERM = re.compile(r"[a-z0-9_]+")
_STOPWORDS_TEXT = (
    "a an and are as at be but by do does for from has have how i if in into is it its of on or so that the "
    "their then there these this to was what when where which who why will with you your"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class SparseVector:
    """Parallel term indices and weights, indices ascending."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


def terms(text: str) -> list[str]:
    """Lower-cased word terms without stopwords; identifiers keep their underscores (`__enter__`)."""
    return [t for t in _TERM.findall(text.lower()) if t not in _STOPWORDS and len(t) > 1]


def _index(term: str) -> int:
    return zlib.crc32(term.encode()) & 0x7FFFFFFF


def encode_document(text: str) -> SparseVector:
    """1 + ln(tf) per term: repeated terms count, with diminishing returns."""
    counts = Counter(_index(t) for t in terms(text))
    ordered = sorted(counts.items())
    return SparseVector(tuple(i for i, _ in ordered), tuple(1.0 + math.log(c) for _, c in ordered))


def encode_query(text: str) -> SparseVector:
    """Each distinct query term once; rarity comes from Qdrant's IDF modifier."""
    indices = sorted({_index(t) for t in terms(text)})
    return SparseVector(tuple(indices), tuple(1.0 for _ in indices))
