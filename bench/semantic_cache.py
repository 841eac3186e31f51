"""Semantic cache quality: hit rate and wrong-hit rate on a paraphrase set, across similarity thresholds.

Data: `bench/data/cache_paraphrases.jsonl`, written for this benchmark (no external source): 40 intents in 16
topics, five wordings each. Intents of one topic are each other's hard negatives ("How much does a parking
permit cost?" vs "How long is a parking permit valid?").

Protocol, on the real cache path (the bundled all-MiniLM-L6-v2 query embedding, `SemanticCache` on Qdrant local
mode, one cache key): for each of the five rotations, the cache holds one wording of every intent (40 answers);
each of the other four wordings of every intent is looked up (160 lookups, 800 in all). A lookup is a hit when
the best cached question is at least the threshold similar; a wrong hit when that question has another intent.

    .venv/bin/python bench/semantic_cache.py
"""

from __future__ import annotations

import asyncio
import json
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient

from llmops.auth import AccessScope
from services.embedding.adapters.sentence_model import SentenceTransformerEmbedder
from services.gateway.adapters.semantic_cache import SemanticCache
from services.gateway.cache import CachedAnswer, cache_key
from services.gateway.core import Question, Source

DATA = Path(__file__).parent / "data" / "cache_paraphrases.jsonl"
RESULTS = Path(__file__).parent / "results" / "semantic_cache.json"
THRESHOLDS = (0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.95)
NOW = datetime.now(UTC)


async def measure() -> dict[str, Any]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    wordings = len(rows[0]["questions"])
    embedder = SentenceTransformerEmbedder(precision="fp32")
    vectors = embedder.encode([q for row in rows for q in row["questions"]])
    vector = {(i, j): vectors[i * wordings + j] for i in range(len(rows)) for j in range(wordings)}
    scope = AccessScope("bench", ("public", "internal"), ())
    key = cache_key(scope, Question("", "", 4, 200, 0.0), "rag-grounded", 1, "")
    lookups: list[tuple[float, bool]] = []  # (best similarity, same intent)
    with tempfile.TemporaryDirectory() as directory:
        client = AsyncQdrantClient(path=directory)
        for rotation in range(wordings):
            cache = SemanticCache(client, embedder.dimensions, threshold=min(THRESHOLDS), collection=f"r{rotation}")
            for i, row in enumerate(rows):
                source = Source(1, f"{row['intent']}:0", row["intent"], 1, row["topic"], "kb://bench", "", 1.0)
                answer = CachedAnswer(row["intent"], [source], "m", "rag-grounded", 1, row["intent"], NOW)
                await cache.put(key, vector[i, rotation], answer)
            for i, row in enumerate(rows):
                for j in range(wordings):
                    if j == rotation:
                        continue
                    hit = await cache.lookup(key, vector[i, j], NOW)
                    lookups.append((hit.similarity, hit.text == row["intent"]) if hit else (0.0, True))
        await client.close()
    table = []
    for threshold in THRESHOLDS:
        hits = [same for similarity, same in lookups if similarity >= threshold]
        wrong = sum(1 for same in hits if not same)
        table.append(
            {
                "threshold": threshold,
                "hit_rate": len(hits) / len(lookups),
                "wrong_hits_per_lookup": wrong / len(lookups),
                "wrong_hits_per_hit": wrong / len(hits) if hits else 0.0,
            }
        )
    return {
        "lookups": len(lookups),
        "intents": len(rows),
        "model": embedder.model_name,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "table": table,
    }


def main() -> None:
    result = asyncio.run(measure())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"{result['lookups']} lookups over {result['intents']} intents, {result['model']}")
    print("| threshold | hit rate | wrong hits / lookup | wrong hits / hit |")
    print("|---|---|---|---|")
    for row in result["table"]:
        print(
            f"| {row['threshold']:.2f} | {row['hit_rate']:.1%} | {row['wrong_hits_per_lookup']:.2%} "
            f"| {row['wrong_hits_per_hit']:.2%} |"
        )


if __name__ == "__main__":
    main()
