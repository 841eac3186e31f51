"""Live drift monitoring fed like the service feeds it: real detectors, the real embedding model for queries."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from llmops.events import DriftAlert, InteractionCompleted, Usage
from services.embedding.adapters.sentence_model import SentenceTransformerEmbedder
from services.feedback.monitoring import Monitor, MonitorSettings

pytestmark = pytest.mark.integration

PYTHON = [
    "How do I {} a list in Python?",
    "What does the {} statement do?",
    "How can I {} a dictionary?",
    "Why does my {} loop never end?",
    "How do I {} a string to an integer?",
    "What is a {} in Python?",
]
WORDS = ["sort", "reverse", "copy", "iterate", "filter", "merge", "slice", "convert", "format", "split"]
COOKING = [
    "How long should I {} pasta?",
    "What temperature do I {} bread at?",
    "Can I {} eggs the night before?",
    "How do I {} a tomato sauce?",
    "Which oil is best to {} vegetables?",
    "How much salt to {} a soup?",
]
VERBS = ["boil", "bake", "prepare", "season", "roast", "cook", "fry", "thicken", "steam", "grill"]


class ModelEmbedder:
    def __init__(self) -> None:
        self.model = SentenceTransformerEmbedder()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.model.encode, texts)


def asked(n: int, query: str, total_ms: float = 800.0, tenant: str = "acme", cached: str = "") -> InteractionCompleted:
    return InteractionCompleted(
        tenant=tenant, interaction_id=f"i{n}", user="u", query=query, answer="a", citations=[], model="m",
        prompt_name="p", prompt_version=1, usage=Usage(cost_usd=0.001), retrieve_ms=1, generate_ms=total_ms,
        total_ms=total_ms, cached_from=cached,
    )  # fmt: skip


def questions(templates: list[str], words: list[str], n: int, rng: random.Random) -> list[str]:
    return [rng.choice(templates).format(rng.choice(words)) for _ in range(n)]


async def test_a_shifted_query_distribution_raises_a_drift_alert_naming_the_new_queries() -> None:
    alerts: list[DriftAlert] = []

    async def publish(alert: DriftAlert) -> None:
        alerts.append(alert)

    settings = MonitorSettings(embedding_reference=120, embedding_window=60, embedding_check_every=30)
    monitor = Monitor(publish, settings, embedder=ModelEmbedder())
    rng = random.Random(7)
    stable = questions(PYTHON, WORDS, 210, rng)
    for n, query in enumerate(stable):
        await monitor.on_interaction(asked(n, query))
    assert [a for a in alerts if a.detector == "embedding_mmd"] == []  # the same kind of questions: no alarm

    shifted = questions(COOKING, VERBS, 60, rng)
    for n, query in enumerate(shifted, start=1000):
        await monitor.on_interaction(asked(n, query))
    (alert,) = [a for a in alerts if a.detector == "embedding_mmd"]
    assert alert.statistic > alert.threshold and alert.tenant == "acme"
    examples = [v for k, v in alert.evidence.items() if k.startswith("example_") and not k.endswith("_score")]
    assert examples and all(int(str(e)[1:]) >= 1000 for e in examples)  # the new queries are the evidence


async def test_latency_spikes_and_falling_feedback_raise_alerts_and_cached_answers_are_ignored() -> None:
    alerts: list[DriftAlert] = []

    async def publish(alert: DriftAlert) -> None:
        alerts.append(alert)

    monitor = Monitor(publish)
    rng = random.Random(3)
    for n in range(300):
        await monitor.on_interaction(asked(n, "q", total_ms=rng.lognormvariate(6.5, 0.2)))
    for n in range(300, 320):
        await monitor.on_interaction(asked(n, "q", total_ms=1.0, cached="i1"))  # a cache hit is not a speed-up
    assert alerts == []
    for n in range(320, 330):
        await monitor.on_interaction(asked(n, "q", total_ms=rng.lognormvariate(6.5, 0.2) * 4))
    assert [a.evidence["metric"] for a in alerts] == ["latency_ms"]

    for n in range(400):
        await monitor.on_feedback("acme", "rag-grounded", 1.0 if rng.random() < 0.85 else 0.0, f"f{n}")
    assert [a.evidence["metric"] for a in alerts] == ["latency_ms"]
    for n in range(400, 700):
        await monitor.on_feedback("acme", "rag-grounded", 1.0 if rng.random() < 0.45 else 0.0, f"f{n}")
    assert [a.evidence["metric"] for a in alerts][:2] == ["latency_ms", "feedback_score:rag-grounded"]
