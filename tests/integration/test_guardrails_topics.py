"""Topic deny lists matched by meaning with the real embedding model, through the guardrails use cases."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from llmops.errors import DeadlineExceeded, FailedPrecondition
from llmops.events import Event, GuardrailsFlagged
from services.embedding.adapters.sentence_model import SentenceTransformerEmbedder
from services.guardrails.app import Guardrails
from services.guardrails.policy import Action, PolicySet, parse_policy

POLICY = """
policy_id: clinic-desk
version: 1
input:
  topics:
    deny:
      - name: medical-advice
        description: Diagnosing illnesses, symptoms, medication and doses.
        examples:
          - Which medicine should I take for my headache?
          - Is this rash serious?
          - What are the symptoms of the flu?
          - How much paracetamol is safe per day?
          - Should I see a doctor about my back pain?
      - name: legal-advice
        description: "Legal advice: whether to sue someone, contracts, and what the law allows in a personal case."
        examples:
          - Can my employer fire me for this?
          - Is this clause in my rental agreement legal?
          - Should I take my neighbour to court?
"""


class ModelEmbedder:
    """The embedding service's own model, in process."""

    def __init__(self) -> None:
        self.model = SentenceTransformerEmbedder()
        self.calls = 0

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        return await asyncio.to_thread(self.model.encode, texts)


class Events:
    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.published.append(event)


@pytest.fixture(scope="module")
def embedder() -> ModelEmbedder:
    return ModelEmbedder()


def policies() -> PolicySet:
    active = PolicySet()
    active.accept(parse_policy(POLICY, "clinic.yaml"), "clinic.yaml")
    return active


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("How many ibuprofen pills can I take for a fever?", "medical-advice"),
        ("My chest hurts when I breathe, what illness could it be?", "medical-advice"),
        ("Can I sue my landlord for not returning my deposit?", "legal-advice"),
    ],
)
async def test_questions_about_a_denied_topic_are_blocked(embedder: ModelEmbedder, question: str, topic: str) -> None:
    events = Events()
    verdict = await Guardrails(policies(), events, embedder).check_input("acme", "desk", question)
    assert verdict.action == Action.BLOCK
    assert [(j.finding.category, j.finding.detail) for j in verdict.findings] == [("banned_topic", topic)]
    assert [e.action for e in events.published if isinstance(e, GuardrailsFlagged)] == ["block"]


@pytest.mark.parametrize(
    "question",
    [
        "How many vacation days do employees get?",
        "What does the with statement do in Python?",
        "Where do I submit my travel expenses?",
    ],
)
async def test_other_questions_pass(embedder: ModelEmbedder, question: str) -> None:
    verdict = await Guardrails(policies(), Events(), embedder).check_input("acme", "desk", question)
    assert verdict.action == Action.ALLOW, verdict.findings


async def test_topic_vectors_are_embedded_once_per_policy_version(embedder: ModelEmbedder) -> None:
    guardrails = Guardrails(policies(), Events(), embedder)
    await guardrails.check_input("acme", "desk", "first question")
    before = embedder.calls
    await guardrails.check_input("acme", "desk", "second question")
    assert embedder.calls == before + 1  # only the message itself


async def test_a_topic_policy_without_an_embedding_service_fails_closed() -> None:
    with pytest.raises(FailedPrecondition, match="LLMOPS_GUARDRAILS_EMBEDDING_URL"):
        await Guardrails(policies(), Events()).check_input("acme", "desk", "Is this rash serious?")


class SlowEmbedder:
    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        await asyncio.sleep(5)
        return [[1.0, 0.0] for _ in texts]


async def test_a_check_past_its_budget_fails_instead_of_deciding() -> None:
    guardrails = Guardrails(policies(), Events(), SlowEmbedder(), budget_s=0.2)
    with pytest.raises(DeadlineExceeded, match="0.2 s budget"):
        await guardrails.check_input("acme", "desk", "Is this rash serious?")
