"""Platform events: pydantic bodies, versioned subjects and CloudEvents types, in one place.

Every event class names its subject (`documents.v1.chunked`), its CloudEvents type and an idempotency key;
the key makes the event id deterministic, so re-publishing the same fact is dropped by JetStream dedupe.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from llmops import ids

SPEC_VERSION = "1.0"


class Classification(StrEnum):
    """Sensitivity of a document, ordered from least to most restricted."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        """Position in the order; a caller sees a chunk when clearance rank ≥ this rank."""
        return list(Classification).index(self)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event body."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    subject: ClassVar[str]
    type: ClassVar[str]

    tenant: str = Field(min_length=1)
    occurred_at: datetime = Field(default_factory=utcnow)

    def idempotency_key(self) -> str:
        """What makes two publishes the same fact; subclasses name their natural key."""
        raise NotImplementedError

    @property
    def event_id(self) -> str:
        """The CloudEvents id and JetStream message id."""
        return ids.event_id(self.type, self.idempotency_key())


class ChunkBody(BaseModel):
    """One chunk inside a `documents.v1.chunked` event."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    chunk_id: str
    index: int = Field(ge=0)
    text: str = Field(min_length=1)
    start_char: int = Field(ge=0)
    end_char: int = Field(ge=0)
    page: int = 0
    heading_path: list[str] = Field(default_factory=list)


class DocumentEvent(Event):
    """Fields every document event carries."""

    document_id: str
    version: int = Field(ge=1)


class DocumentReceived(DocumentEvent):
    """A new document version was accepted by ingestion."""

    subject: ClassVar[str] = "documents.v1.received"
    type: ClassVar[str] = "io.llmops.documents.received.v1"

    source_uri: str
    dataset: str
    content_hash: str
    size_bytes: int = Field(ge=0)
    mime_type: str
    ingested_by: str
    raw_object: str = ""
    """Name of the original bytes in the `documents-raw` object store bucket (events carry a reference, not bytes)."""

    def idempotency_key(self) -> str:
        return f"{self.document_id}:{self.version}"


class DocumentChunked(DocumentEvent):
    """A part of a document version's chunks, ready to embed; large documents span several parts."""

    subject: ClassVar[str] = "documents.v1.chunked"
    type: ClassVar[str] = "io.llmops.documents.chunked.v1"

    source_uri: str
    title: str
    dataset: str
    content_hash: str
    classification: Classification = Classification.INTERNAL
    allowed_groups: list[str] = Field(default_factory=list)
    part: int = Field(ge=0)
    parts: int = Field(ge=1)
    total_chunks: int = Field(ge=0)
    chunks: list[ChunkBody]

    def idempotency_key(self) -> str:
        return f"{self.document_id}:{self.version}:{self.part}"


class DocumentIndexed(DocumentEvent):
    """A part of a document version is searchable; `superseded_version` is the version it replaces."""

    subject: ClassVar[str] = "documents.v1.indexed"
    type: ClassVar[str] = "io.llmops.documents.indexed.v1"

    part: int = Field(ge=0)
    parts: int = Field(ge=1)
    chunk_count: int = Field(ge=0)
    embedding_model: str
    superseded_version: int | None = None

    def idempotency_key(self) -> str:
        return f"{self.document_id}:{self.version}:{self.part}"


class DocumentDeleted(DocumentEvent):
    """A document was tombstoned; `version` is its last version."""

    subject: ClassVar[str] = "documents.v1.deleted"
    type: ClassVar[str] = "io.llmops.documents.deleted.v1"

    deleted_by: str

    def idempotency_key(self) -> str:
        return f"{self.document_id}:{self.version}:deleted"


class CitedSource(BaseModel):
    """A source an interaction's answer cited, with the version it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    number: int
    document_id: str
    document_version: int
    chunk_id: str
    source_uri: str
    score: float


class Usage(BaseModel):
    """Tokens and cost of one generation."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0


class InteractionCompleted(Event):
    """The gateway answered a question."""

    subject: ClassVar[str] = "interactions.v1.completed"
    type: ClassVar[str] = "io.llmops.interactions.completed.v1"

    interaction_id: str
    user: str
    query: str
    answer: str
    citations: list[CitedSource]
    model: str
    prompt_name: str
    prompt_version: int
    usage: Usage
    retrieve_ms: float
    generate_ms: float
    total_ms: float
    cached_from: str = ""
    """Interaction whose answer the semantic cache served; empty when generated."""
    groundedness: float | None = Field(default=None, ge=0.0, le=1.0)
    """Share of the answer's text the output guardrails found supported by its sources; None when unchecked."""

    def idempotency_key(self) -> str:
        return self.interaction_id


class GuardrailsFlagged(Event):
    """A guardrail verdict blocked or redacted text."""

    subject: ClassVar[str] = "guardrails.v1.flagged"
    type: ClassVar[str] = "io.llmops.guardrails.flagged.v1"

    check_id: str
    stage: str
    action: str
    policy_id: str
    policy_version: int
    findings: list[dict[str, str | float | int]]
    interaction_id: str = ""

    def idempotency_key(self) -> str:
        return self.check_id


class GuardrailsPolicyChanged(Event):
    """A guardrail policy file was activated at a new version, or rejected (the previous version stays)."""

    subject: ClassVar[str] = "guardrails.v1.policy_changed"
    type: ClassVar[str] = "io.llmops.guardrails.policy_changed.v1"

    policy_id: str
    version: int
    application: str
    outcome: str = Field(pattern="^(activated|rejected)$")
    source: str
    """The file, as the guardrails service read it."""
    content_sha256: str
    """Which content was activated or rejected (the policy text itself is in the file, versioned)."""
    error: str = ""

    def idempotency_key(self) -> str:
        return f"{self.source}:{self.content_sha256}:{self.outcome}"


class FeedbackReceived(Event):
    """A person rated an interaction."""

    subject: ClassVar[str] = "feedback.v1.received"
    type: ClassVar[str] = "io.llmops.feedback.received.v1"

    feedback_id: str
    interaction_id: str
    user: str
    rating: float
    categories: list[str] = Field(default_factory=list)
    comment: str = ""
    corrected_answer: str = ""

    def idempotency_key(self) -> str:
        return self.feedback_id


class EvaluationCompleted(Event):
    """A golden set ran through the gateway for one prompt version and model; its metrics and the previous run's."""

    subject: ClassVar[str] = "feedback.v1.evaluated"
    type: ClassVar[str] = "io.llmops.feedback.evaluated.v1"

    evaluation_id: str
    golden_set: str
    golden_set_version: str
    prompt_name: str
    prompt_version: int
    model: str
    metrics: dict[str, float]
    previous: dict[str, float] = Field(default_factory=dict)
    requested_by: str

    def idempotency_key(self) -> str:
        return self.evaluation_id


class DriftAlert(Event):
    """A drift detector crossed its threshold."""

    subject: ClassVar[str] = "alerts.v1.drift"
    type: ClassVar[str] = "io.llmops.alerts.drift.v1"

    alert_id: str
    detector: str
    statistic: float
    threshold: float
    evidence: dict[str, str | float | int] = Field(default_factory=dict)

    def idempotency_key(self) -> str:
        return self.alert_id


class BudgetAlert(Event):
    """A tenant's token or cost budget reached a threshold."""

    subject: ClassVar[str] = "alerts.v1.budget"
    type: ClassVar[str] = "io.llmops.alerts.budget.v1"

    day: str
    metric: str = "cost_usd"
    """`tokens` or `cost_usd`."""
    threshold_percent: int
    spent: float
    budget: float

    def idempotency_key(self) -> str:
        return f"{self.tenant}:{self.day}:{self.metric}:{self.threshold_percent}"


class PromptChange(StrEnum):
    """What happened to a prompt."""

    CREATED = "created"
    LABEL_MOVED = "label_moved"
    ROLLED_BACK = "rolled_back"
    SPLIT_CHANGED = "split_changed"


class PromptChanged(Event):
    """A prompt version was created, a label moved (rollback included) or the traffic split changed."""

    subject: ClassVar[str] = "prompts.v1.changed"
    type: ClassVar[str] = "io.llmops.prompts.changed.v1"

    change_id: str
    change: PromptChange = PromptChange.CREATED
    name: str
    version: int
    label: str = ""
    previous_version: int | None = None
    split: dict[str, float] = Field(default_factory=dict)
    changed_by: str
    reason: str = ""

    def idempotency_key(self) -> str:
        return self.change_id


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        DocumentReceived,
        DocumentChunked,
        DocumentIndexed,
        DocumentDeleted,
        InteractionCompleted,
        GuardrailsFlagged,
        GuardrailsPolicyChanged,
        FeedbackReceived,
        EvaluationCompleted,
        DriftAlert,
        BudgetAlert,
        PromptChanged,
    )
}
"""Every event class by its CloudEvents type."""
