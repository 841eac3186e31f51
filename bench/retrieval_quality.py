"""Retrieval quality on CPython's documentation topics: hit@5 and MRR, dense-only vs hybrid (dense + sparse, RRF).

Runs the platform's own chunker (tokens of the embedding model), embedding model and Qdrant local index in one
process — no servers — so the comparison isolates retrieval. Usage:

    .venv/bin/python bench/retrieval_quality.py [--out bench/results/retrieval_quality.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from pydoc_data.topics import topics

from qdrant_client import AsyncQdrantClient

from llmops import ids
from llmops.vectorstore import ChunkIndex, ChunkPoint
from services.embedding.adapters.sentence_model import SentenceTransformerEmbedder
from services.ingestion.adapters.tokenizer import WordPieceTokenizer, bundled_tokenizer_path
from services.ingestion.chunking import ChunkingPolicy, chunk
from services.ingestion.parsing import parse

DEV_SET = Path(__file__).parent / "data" / "pydoc_questions.json"
K = 5


async def build_index(embedder: SentenceTransformerEmbedder, directory: Path) -> tuple[ChunkIndex, int]:
    tokenizer_path = bundled_tokenizer_path()
    tokenizer = WordPieceTokenizer(tokenizer_path) if tokenizer_path else None
    index = ChunkIndex(AsyncQdrantClient(path=str(directory)), embedder.dimensions)
    count = 0
    for key, text in sorted(topics.items()):
        doc = parse(text.encode(), "text/plain", f"pydoc://topics/{key}")
        chunks = chunk(doc, ChunkingPolicy(), tokenizer.count if tokenizer else None)
        vectors = await embedder.embed([c.text for c in chunks])
        await index.upsert(
            [
                ChunkPoint(
                    ids.chunk_id(key, 1, c.index),
                    v,
                    {"tenant": "bench", "document_id": key, "version": 1, "dataset": "python-docs", "text": c.text},
                )
                for c, v in zip(chunks, vectors, strict=True)
            ]  # fmt: skip
        )
        count += len(chunks)
    return index, count


def ranks(hits: list[str], expected: set[str]) -> int | None:
    """1-based rank of the first expected document among distinct documents, or None."""
    seen: list[str] = []
    for document in hits:
        if document not in seen:
            seen.append(document)
    return next((i for i, d in enumerate(seen, start=1) if d in expected), None)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/retrieval_quality.json"))
    options = parser.parse_args()
    questions = json.loads(DEV_SET.read_text())["questions"]
    embedder = SentenceTransformerEmbedder()
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        index, chunks = await build_index(embedder, Path(directory))
        indexed_s = time.perf_counter() - started
        results: dict[str, dict[str, float]] = {}
        for mode in ("dense", "hybrid"):
            hits_at_k, reciprocal = 0, 0.0
            for item in questions:
                (vector,) = await embedder.embed([item["question"]])
                points = await index.search(
                    vector, tenant="bench", dataset="", limit=K * 3, score_threshold=None,
                    hybrid_text=item["question"] if mode == "hybrid" else "",
                )  # fmt: skip
                rank = ranks([str(p.payload["document_id"]) for p in points], set(item["topics"]))
                if rank is not None and rank <= K:
                    hits_at_k += 1
                    reciprocal += 1.0 / rank
            results[mode] = {f"hit@{K}": hits_at_k / len(questions), f"mrr@{K}": reciprocal / len(questions)}
        await index.client.close()
    report = {"questions": len(questions), "topics": len(topics), "chunks": chunks, "index_s": round(indexed_s, 1),
              "results": results}  # fmt: skip
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(report, indent=2))
    print(f"{len(questions)} questions over {len(topics)} topics ({chunks} chunks, indexed in {indexed_s:.1f} s)")
    print(f"| mode | hit@{K} | MRR@{K} |\n|---|---|---|")
    for mode, metrics in results.items():
        print(f"| {mode} | {metrics[f'hit@{K}']:.3f} | {metrics[f'mrr@{K}']:.3f} |")
    dense, hybrid = results["dense"][f"mrr@{K}"], results["hybrid"][f"mrr@{K}"]
    print(f"hybrid / dense MRR ratio: {hybrid / dense:.2f}" if dense else "dense MRR is 0")


if __name__ == "__main__":
    asyncio.run(main())
