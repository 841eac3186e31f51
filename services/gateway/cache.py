"""The semantic answer cache's rules: what makes two questions share an answer, and when an answer is stale; pure.

Two questions share a cached answer only when everything that shapes the answer is the same — tenant, access
scope (clearance and groups), prompt version, model, dataset and retrieval/answer parameters — and their
query embeddings are closer than the similarity threshold. An answer records the document versions it cited;
a new version or a deletion of any of them removes it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from llmops.auth import AccessScope
from services.gateway.core import Question, Source

ROUTED = "routed"
"""The model part of a key when the inference service's routing rules choose the model."""


@dataclass(frozen=True)
class CacheKey:
    """Everything that must match exactly for two questions to share an answer."""

    tenant: str
    scope: str
    prompt_name: str
    prompt_version: int
    model: str
    dataset: str
    top_k: int
    max_tokens: int

    def fields(self) -> dict[str, str | int]:
        return {
            "tenant": self.tenant,
            "scope": self.scope,
            "prompt_name": self.prompt_name,
            "prompt_version": self.prompt_version,
            "model": self.model,
            "dataset": self.dataset,
            "top_k": self.top_k,
            "max_tokens": self.max_tokens,
        }


def scope_fingerprint(scope: AccessScope) -> str:
    """Equal for two principals that may read exactly the same chunks."""
    text = "|".join([scope.tenant, ",".join(sorted(scope.classifications)), ",".join(sorted(scope.groups))])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cache_key(scope: AccessScope, question: Question, prompt_name: str, prompt_version: int, model: str) -> CacheKey:
    return CacheKey(
        tenant=scope.tenant,
        scope=scope_fingerprint(scope),
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        model=model or ROUTED,
        dataset=question.dataset,
        top_k=question.top_k,
        max_tokens=question.max_tokens,
    )


def cacheable(question: Question, answer_text: str, citations: list[Source], no_answer: str) -> bool:
    """Only deterministic, grounded answers are kept: sampling (temperature > 0) asks for variety, and an
    answer without citations has nothing that could invalidate it."""
    return question.temperature == 0 and bool(citations) and answer_text != no_answer


@dataclass(frozen=True)
class CachedAnswer:
    """What a hit returns: the answer as first generated, with its citations and who produced it."""

    text: str
    citations: list[Source]
    model: str
    prompt_name: str
    prompt_version: int
    origin_interaction_id: str
    created_at: datetime
    similarity: float = 0.0


def document_refs(citations: list[Source]) -> tuple[list[str], list[str]]:
    """(document ids, `id@version` refs) an answer depends on."""
    ids = sorted({s.document_id for s in citations})
    refs = sorted({f"{s.document_id}@{s.document_version}" for s in citations})
    return ids, refs
