"""Feedback's domain: what a valid piece of feedback is, and the rating scale it is stored on; pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from llmops.errors import InvalidArgument

MAX_COMMENT_CHARS = 4000
MAX_CORRECTION_CHARS = 16_000


class Category(StrEnum):
    """What was wrong with an answer."""

    WRONG = "wrong"
    UNSAFE = "unsafe"
    INCOMPLETE = "incomplete"
    OUTDATED = "outdated"


@dataclass(frozen=True)
class Interaction:
    """What feedback may refer to: an answered question, as `interactions.v1.completed` announced it."""

    interaction_id: str
    tenant: str
    user: str
    prompt_name: str
    prompt_version: int
    model: str
    occurred_at: datetime
    query: str = ""
    """As the gateway recorded it: personal data already redacted by the guardrails."""
    answer: str = ""


@dataclass(frozen=True)
class Submission:
    """A person's verdict on one answer, validated."""

    interaction_id: str
    rating: float
    """Normalised to [0, 1]: thumbs down 0, up 1; stars 1..5 → 0, 0.25, … 1."""
    scale: str
    """How the person rated: `thumbs` or `stars` (the raw value is recoverable from `rating`)."""
    categories: tuple[Category, ...] = ()
    comment: str = ""
    corrected_answer: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def rating_from_thumbs(up: bool) -> float:
    return 1.0 if up else 0.0


def rating_from_stars(stars: int) -> float:
    if not 1 <= stars <= 5:
        raise InvalidArgument(f"stars must be 1 to 5, got {stars}")
    return (stars - 1) / 4


def validate_submission(
    interaction_id: str,
    rating: float | None,
    scale: str,
    categories: Sequence[str],
    comment: str,
    corrected_answer: str,
) -> Submission:
    """A submission, or INVALID_ARGUMENT naming the field to fix."""
    if not interaction_id.strip():
        raise InvalidArgument("interaction_id is empty; send the id the answer came with (AskResponse.interaction_id)")
    if rating is None:
        raise InvalidArgument("set a rating: thumbs_up (true/false) or stars (1 to 5)")
    unknown = [c for c in categories if c not in Category.__members__.values()]
    if unknown:
        choices = ", ".join(c.value for c in Category)
        raise InvalidArgument(f"categories {unknown} are not known; use {choices}")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidArgument(f"comment has {len(comment)} characters; the limit is {MAX_COMMENT_CHARS}")
    if len(corrected_answer) > MAX_CORRECTION_CHARS:
        raise InvalidArgument(
            f"corrected_answer has {len(corrected_answer)} characters; the limit is {MAX_CORRECTION_CHARS}"
        )
    return Submission(
        interaction_id=interaction_id.strip(),
        rating=rating,
        scale=scale,
        categories=tuple(dict.fromkeys(Category(c) for c in categories)),
        comment=comment.strip(),
        corrected_answer=corrected_answer.strip(),
    )


@dataclass(frozen=True)
class EvaluationRun:
    """One stored evaluation: which set, prompt version and model, and its aggregate metrics."""

    evaluation_id: str
    tenant: str
    golden_set: str
    golden_set_version: str
    prompt_name: str
    prompt_version: int
    model: str
    metrics: dict[str, float]
    requested_by: str
    finished_at: datetime


TRAINING_MIN_RATING = 0.75
"""Ratings at or above this (4 of 5 stars, a thumbs up) make an answer a training example as it was."""


def training_example(
    interaction: Interaction, feedback_id: str, rating: float, corrected_answer: str, system: str
) -> dict[str, object] | None:
    """A chat-format fine-tuning example from one piece of feedback: the correction when there is one, else the
    answer itself when it was rated highly; None when neither (a low rating without a correction teaches nothing)."""
    if not interaction.query:
        return None
    if corrected_answer:
        target, kind = corrected_answer, "correction"
    elif rating >= TRAINING_MIN_RATING and interaction.answer:
        target, kind = interaction.answer, "rated"
    else:
        return None
    messages = [{"role": "user", "content": interaction.query}, {"role": "assistant", "content": target}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return {
        "messages": messages,
        "lineage": {
            "interaction_id": interaction.interaction_id,
            "feedback_id": feedback_id,
            "kind": kind,
            "rating": rating,
            "prompt": f"{interaction.prompt_name}@{interaction.prompt_version}",
            "model": interaction.model,
            "tenant": interaction.tenant,
        },
    }


def quality_metrics(interactions: int, feedback: list[tuple[float, str, int]]) -> dict[str, float]:
    """Production quality from people's feedback: mean rating, share of positive ratings, feedback coverage, and
    the share of feedback naming each category."""
    metrics: dict[str, float] = {"interactions": float(interactions), "feedback": float(len(feedback))}
    if interactions:
        metrics["feedback_coverage"] = len(feedback) / interactions
    if feedback:
        ratings = [r for r, _, _ in feedback]
        metrics["mean_rating"] = sum(ratings) / len(ratings)
        metrics["positive_rate"] = sum(1 for r in ratings if r >= TRAINING_MIN_RATING) / len(ratings)
        for category in Category:
            named = sum(1 for _, categories, _ in feedback if f'"{category.value}"' in categories)
            metrics[f"category_{category.value}_rate"] = named / len(feedback)
    return metrics
