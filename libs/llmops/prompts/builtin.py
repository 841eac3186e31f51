"""The platform's built-in prompts, seeded into the shared namespace; a tenant overrides one by creating its own."""

from __future__ import annotations

from datetime import datetime

from llmops.prompts.core import PRODUCTION, SHARED_TENANT, PromptHead, PromptVersion, Variable, new_version

RAG_PROMPT = "rag-grounded"
"""The gateway's grounded-answer prompt: rules in the system message, numbered sources and the question."""

RAG_SYSTEM = (
    "You are a careful assistant. Answer the question using only the numbered sources below. "
    "Cite every source you use with its number in square brackets, like [1]. "
    "If the sources do not contain the answer, say that you cannot answer from the provided sources."
)
RAG_TEMPLATE = "Sources:\n{{sources}}\n\nQuestion: {{question}}\n"


def builtin_prompts(now: datetime) -> list[PromptVersion]:
    """Version 1 of every built-in prompt."""
    return [
        new_version(
            tenant=SHARED_TENANT,
            name=RAG_PROMPT,
            version=1,
            system=RAG_SYSTEM,
            template=RAG_TEMPLATE,
            variables=[
                Variable(name="sources", description="numbered source passages"),
                Variable(name="question", description="the user's question", max_chars=8_000),
            ],
            description="Grounded answer with numbered citations (built in)",
            created_by="llmops",
            created_at=now,
        )
    ]


def seeded_head(head: PromptHead) -> PromptHead:
    """A built-in's head after seeding: version 1 known, `production` on it unless a label exists already."""
    labels = head.labels if head.labels.get(PRODUCTION) else {**head.labels, PRODUCTION: [1]}
    return head.model_copy(update={"latest": max(head.latest, 1), "labels": labels})
