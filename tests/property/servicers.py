"""Every platform servicer, built the way its service's `__main__` builds it but with no server behind it.

Which app each servicer gets, and why:

- `Assistant` (Ask, AskStream): a stand-in raising `Reached(principal, question)`; the real app calls retrieval
  and inference over gRPC, so the test stops where the servicer's validation ends.
- `Retrieval` (Search): a stand-in raising `Reached(query)`; the real app needs Qdrant and the embedding service.
- `Embedding` (Embed): the real `EmbeddingApp` with a constant embedder (the model is its only server-like part).
- `Inference` (Generate, GenerateStream): the real `Inference`, a scripted generator in Triton's place, and the
  real `PromptCatalog`.
- `Prompts` (all seven): the real `PromptRegistry` and `PromptStore` on an in-memory key-value bucket, with the
  built-in prompts seeded.
- `Ingestion` (all seven): the real `Ingestion` on SQLite, the bus recorded, raw bytes dropped; limits scaled
  down (64 KiB whole, 256 KiB streamed) so oversized documents cost little.
- `Guardrails` (all four): the real `Guardrails` with every in-process scanner; the application `bulk` has them
  all off, so megabyte texts cost validation only.
- `Feedback` (all five): the real `FeedbackApp` on SQLite with the built-in golden sets and no gateway
  (evaluations answer FAILED_PRECONDITION).
- `Audit` (all six): the real `AuditTrail` on SQLite with a fresh signing key and a few records seeded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import event
from hypothesis.control import currently_in_test_context

from llmops.auth import TENANT_HEADER, Principal
from llmops.errors import DomainError
from llmops.events import (
    CitedSource,
    DocumentReceived,
    FeedbackReceived,
    GuardrailsFlagged,
    InteractionCompleted,
    Usage,
)
from llmops.prompts.store import PromptCatalog, PromptStore
from services.audit.adapters.sealing import Ed25519Sealer
from services.audit.adapters.sql_engines import SqliteEngine
from services.audit.adapters.sql_log import SqlAuditLog
from services.audit.app import AuditTrail
from services.audit.grpc_api import AuditServicer
from services.embedding.app import EmbeddingApp
from services.embedding.grpc_api import EmbeddingServicer
from services.feedback.adapters.store import FeedbackStore
from services.feedback.app import FeedbackApp
from services.feedback.grpc_api import FeedbackServicer
from services.gateway.core import Limits as GatewayLimits
from services.gateway.core import Question
from services.gateway.grpc_api import AssistantServicer
from services.guardrails.app import Guardrails
from services.guardrails.grpc_api import GuardrailsServicer
from services.guardrails.policy import DocumentRules, InputRules, OutputRules, Policy, PolicySet, Rule
from services.inference.adapters.tokenizer import EstimatingCounter
from services.inference.app import Inference, Model
from services.inference.core import Limits as InferenceLimits
from services.inference.core import Parameters, Piece, Pricing
from services.inference.grpc_api import InferenceServicer, PromptsServicer
from services.inference.prompts import PromptRegistry
from services.inference.routing import RouteRule
from services.ingestion.adapters.sqlite_store import SqliteDocumentStore
from services.ingestion.app import Ingestion
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.core import Limits as IngestionLimits
from services.ingestion.grpc_api import IngestionServicer
from services.retrieval.core import SearchQuery
from services.retrieval.grpc_api import RetrievalServicer
from tests.property.fakes import FakeContext, MemoryKeyValue, Reached, RecordingBus, call
from tests.property.strategies import good_metadata

DEFAULT_TENANT = "default"
EMBEDDING_DIMENSIONS = 4
INGESTION_LIMITS = IngestionLimits(max_document_bytes=64 * 1024, max_stream_bytes=256 * 1024)
BULK_APPLICATION = "bulk"
"""The guardrails application whose policy switches every scanner off."""
KNOWN_INTERACTIONS = ("i-acme-1", "i-acme-2", "i-globex-1")
"""Interactions feedback knows (`i-<tenant>-n` belongs to that tenant)."""
SEEDED_AUDIT_RECORDS = 4


class AssistantStandIn:
    """The gateway app up to its first step: it stops with what the servicer validated."""

    async def ask(self, principal: Principal, question: Question, *, streaming: bool = False) -> AsyncIterator[Any]:
        raise Reached(principal, question)
        yield  # an async generator, like the app's


class RetrievalStandIn:
    """The retrieval app up to its first step."""

    async def search(self, query: SearchQuery) -> list[Any]:
        raise Reached(query)


class ConstantEmbedder:
    """One fixed unit vector per text."""

    model_name = "constant"
    dimensions = EMBEDDING_DIMENSIONS

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0, 0.0] for _ in texts]


class ScriptedGenerator:
    """Answers every prompt with one short piece, as a model server would."""

    async def stream(self, prompt: str, params: Parameters, *, timeout_s: float | None = None) -> AsyncGenerator[Piece]:
        yield Piece("A short answer.")


@dataclass
class Platform:
    """Every servicer, plus the recording buses of those that publish."""

    assistant: AssistantServicer
    retrieval: RetrievalServicer
    embedding: EmbeddingServicer
    inference: InferenceServicer
    prompts: PromptsServicer
    ingestion: IngestionServicer
    guardrails: GuardrailsServicer
    feedback: FeedbackServicer
    audit: AuditServicer
    buses: dict[str, RecordingBus]
    closers: list[Any]

    async def close(self) -> None:
        for close in self.closers:
            await close()


def _scanners_off(rules: type[Any]) -> Any:
    return rules(**{name: Rule(enabled=False) for name, f in rules.model_fields.items() if isinstance(f.default, Rule)})


def guardrail_policies() -> PolicySet:
    """The default policy for every application, and one with no scanner for `bulk`."""
    policies = PolicySet()
    policies.accept(
        Policy(
            policy_id="scanners-off",
            version=1,
            application=BULK_APPLICATION,
            input=_scanners_off(InputRules),
            output=_scanners_off(OutputRules),
            document=_scanners_off(DocumentRules),
        ),
        "tests/property",
    )
    return policies


def _interaction(interaction_id: str) -> InteractionCompleted:
    return InteractionCompleted(
        tenant=interaction_id.split("-")[1],
        interaction_id=interaction_id,
        user="ana",
        query="How many days of leave?",
        answer="Twenty-eight [1].",
        citations=[
            CitedSource(number=1, document_id="d", document_version=1, chunk_id="c", source_uri="kb://d", score=0.9)
        ],
        model="small-v1",
        prompt_name="rag-grounded",
        prompt_version=1,
        usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
        retrieve_ms=1.0,
        generate_ms=2.0,
        total_ms=3.0,
    )


async def _seeded_audit(path: Path) -> tuple[AuditTrail, SqlAuditLog, bytes]:
    sealer = Ed25519Sealer(Ed25519PrivateKey.generate())
    audit_log = SqlAuditLog(SqliteEngine(path), sealer)
    trail = AuditTrail(audit_log)
    events = [
        _interaction("i-acme-1"),
        DocumentReceived(
            tenant="acme",
            document_id="d",
            version=1,
            source_uri="kb://d",
            dataset="hr",
            content_hash="0" * 64,
            size_bytes=10,
            mime_type="text/plain",
            ingested_by="ana",
        ),
        FeedbackReceived(tenant="acme", feedback_id="f", interaction_id="i-acme-1", user="ana", rating=1.0),
        GuardrailsFlagged(
            tenant="globex",
            check_id="g",
            stage="input",
            action="block",
            policy_id="default",
            policy_version=1,
            findings=[{"scanner": "injection", "score": 0.9, "start": 0, "end": 4}],
        ),
    ]
    for fact in events:
        await trail.record(fact, event_id=fact.event_id, subject=fact.subject, source="llmops/test")
    return trail, audit_log, sealer.public_key


async def build_platform(root: Path) -> Platform:
    """Every servicer on fresh stores under `root`."""
    buses = {name: RecordingBus() for name in ("prompts", "ingestion", "guardrails", "feedback")}
    bucket = MemoryKeyValue()

    async def open_bucket() -> Any:
        return bucket

    store = PromptStore(open_bucket)
    registry = PromptRegistry(store, buses["prompts"], models=("small",))
    await registry.seed_builtins()
    catalog = PromptCatalog(store)
    await catalog.start()
    inference = Inference(
        {"small": Model("small", ScriptedGenerator(), EstimatingCounter(), Pricing(), "small-v1")},
        [RouteRule(name="everything", models=["small"])],
        limits=InferenceLimits(),
        catalog=catalog,
    )
    documents = SqliteDocumentStore(root / "ingestion.sqlite3")
    ingestion = Ingestion(documents, buses["ingestion"], INGESTION_LIMITS, ChunkingPolicy())  # type: ignore[arg-type]
    feedback_store = FeedbackStore(root / "feedback.sqlite3")
    feedback = FeedbackApp(feedback_store, buses["feedback"], arrival_wait_s=0.0)
    for interaction_id in KNOWN_INTERACTIONS:
        await feedback.on_interaction(_interaction(interaction_id))
    trail, audit_log, public_key = await _seeded_audit(root / "audit.sqlite3")
    guardrails = Guardrails(guardrail_policies(), buses["guardrails"], None, budget_s=60.0)
    embedding = EmbeddingApp(ConstantEmbedder(), None, None)  # type: ignore[arg-type]  # Embed uses neither
    return Platform(
        assistant=AssistantServicer(AssistantStandIn(), GatewayLimits(), DEFAULT_TENANT),  # type: ignore[arg-type]
        retrieval=RetrievalServicer(RetrievalStandIn(), DEFAULT_TENANT, 5, "constant", EMBEDDING_DIMENSIONS),  # type: ignore[arg-type]
        embedding=EmbeddingServicer(embedding),
        inference=InferenceServicer(inference, DEFAULT_TENANT),
        prompts=PromptsServicer(registry, DEFAULT_TENANT),
        ingestion=IngestionServicer(ingestion, DEFAULT_TENANT, root / "spool"),
        guardrails=GuardrailsServicer(guardrails, DEFAULT_TENANT),
        feedback=FeedbackServicer(feedback, DEFAULT_TENANT),
        audit=AuditServicer(trail, public_key, DEFAULT_TENANT),
        buses=buses,
        closers=[catalog.stop, audit_log.close, documents.close, feedback_store.close],
    )


INVALID = frozenset({"INVALID_ARGUMENT"})
MISSING = INVALID | {"NOT_FOUND"}
REFUSED = MISSING | {"FAILED_PRECONDITION"}
"""The statuses a refusal may carry: the caller's mistake, something that does not exist, a state that forbids it."""


@dataclass
class Outcome:
    """What an RPC did: answered, reached its app stand-in, or refused."""

    response: Any = None
    reached: tuple[Any, ...] = ()
    error: DomainError | None = None


def rpc(runner: asyncio.Runner, method: Any, request: Any, headers: Sequence[tuple[str, Any]] | None = None) -> Outcome:
    """Calls a servicer method; anything but an answer, a stand-in's signal or a DomainError propagates."""
    context = FakeContext(good_metadata() if headers is None else headers)
    try:
        outcome = Outcome(response=runner.run(call(method, request, context)))
    except Reached as signal:
        outcome = Outcome(reached=signal.values)
    except DomainError as exc:
        outcome = Outcome(error=exc)
    if currently_in_test_context():  # `--hypothesis-show-statistics` shows how often each branch ran
        event(f"{method.__name__}: {outcome.error.status if outcome.error else 'accepted'}")
    return outcome


def tenant_of(headers: Sequence[tuple[str, Any]]) -> str:
    """The tenant `principal_from_metadata` reads from these headers."""
    return str(dict(headers).get(TENANT_HEADER, "")).strip() or DEFAULT_TENANT
