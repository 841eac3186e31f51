"""Topic allow and deny lists by meaning: a message's embedding against each topic's description; pure.

A topic is a name, a description and optional example questions. The embedding service turns them into vectors
once per policy version (services/guardrails/app.py); a message matches a topic when its cosine similarity to the
description or any example reaches the policy's threshold. Deny lists block what matches; allow lists block what
matches none of them ("this assistant only discusses billing and shipping").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.guardrails.scanners import Finding

Matrix = npt.NDArray[np.float32]
QUERY_CHARS = 2000
"""The start of a message that is embedded: the model reads about 256 tokens, the rest would only cost transfer."""


def unit_rows(vectors: Sequence[Sequence[float]]) -> Matrix:
    """Vectors as rows scaled to length 1 (cosine similarity becomes a dot product)."""
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    scaled: Matrix = matrix / np.where(norms == 0, 1.0, norms)
    return scaled


@dataclass(frozen=True)
class TopicVectors:
    """Each topic's description and example vectors, by topic name."""

    deny: Mapping[str, Matrix]
    allow: Mapping[str, Matrix]

    @property
    def empty(self) -> bool:
        return not self.deny and not self.allow


def _best(query: Matrix, topics: Mapping[str, Matrix]) -> tuple[str, float]:
    scored = [(name, float(np.max(vectors @ query))) for name, vectors in topics.items()]
    return max(scored, key=lambda item: item[1], default=("", 0.0))


def scan_topics(
    query_vector: Sequence[float], topics: TopicVectors, similarity: float, text_length: int
) -> list[Finding]:
    """A banned topic the message is about (score: its similarity), or an off-topic message (score 1.0)."""
    if topics.empty:
        return []
    query = unit_rows([query_vector])[0]
    findings = []
    if topics.deny:
        name, score = _best(query, topics.deny)
        if score >= similarity:
            findings.append(Finding("topics", "banned_topic", round(min(1.0, score), 3), 0, text_length, name))
    if topics.allow:
        name, score = _best(query, topics.allow)
        if score < similarity:
            detail = f"closest allowed topic {name!r} at {score:.2f}"
            findings.append(Finding("topics", "off_topic", 1.0, 0, text_length, detail))
    return findings
