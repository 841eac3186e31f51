"""Guardrails latency on 2 cores: the combined input scan and the output scan, beside Presidio's analyzer.

Same texts for every side, one process, sequential calls (the latency one request sees):
- input: the 181 bastioncorpus prompts, the 200 benign questions and 250 generated PII sentences
  (`bench/guardrails_pii.py`), through `core.check_input` with the default policy (normalisation, decoders,
  injection, invisible text, secrets, PII, token limit);
- output: answers built from CPython documentation topics (three sentences citing two sources of ~1,200
  characters) through `core.check_output`;
- peer: Presidio's `AnalyzerEngine.analyze` (spaCy en_core_web_sm, all entities) on the input texts — it
  detects PII only, so it is the lower bound of a Presidio-based input scan.

    .venv/bin/pip install -e ".[bench]" && .venv/bin/python -m bench.guardrails_latency
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.guardrails_pii import generate
from services.guardrails import core
from services.guardrails.policy import DEFAULT_POLICY

DATA = Path(__file__).parent / "data"


def percentiles(call: Callable[[str], object], texts: Sequence[str], rounds: int = 3) -> tuple[float, float]:
    for text in texts[:20]:
        call(text)  # warm-up
    samples = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            call(text)
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.95)]


def main() -> None:
    rows = [json.loads(line) for line in (DATA / "guardrails" / "bastioncorpus-0.6.0-injections.jsonl").open()]
    questions = [q for line in (DATA / "cache_paraphrases.jsonl").open() for q in json.loads(line)["questions"]]
    inputs = [r["text"] for r in rows] + questions + [str(s["text"]) for s in generate()]
    from pydoc_data.topics import topics

    bodies = [" ".join(t.split())[:1200] for t in list(topics.values())[:60]]
    outputs = [
        (f"{a.split('.')[0]} [1]. {b.split('.')[0]} [2]. Both are described in the reference [1].", {1: a, 2: b})
        for a, b in zip(bodies[::2], bodies[1::2], strict=False)
    ]

    from llmops.pii.presidio import PresidioDetector

    presidio = PresidioDetector()
    table = [
        (
            "guardrails input scan (all input scanners)",
            percentiles(lambda t: core.check_input(t, DEFAULT_POLICY), inputs),
        ),
        ("Presidio analyzer (PII only)", percentiles(presidio.detect, inputs)),
        (
            "guardrails output scan (all output scanners)",
            percentiles(
                lambda i: core.check_output(outputs[int(i)][0], outputs[int(i)][1], "", DEFAULT_POLICY),
                [str(i) for i in range(len(outputs))] * 5,
            ),
        ),
    ]
    print(f"{len(inputs)} input texts, {len(outputs)} answers, 3 rounds, sequential, one process")
    print("| scan | p50 | p95 |")
    print("|---|---|---|")
    for name, (p50, p95) in table:
        print(f"| {name} | {p50:.2f} ms | {p95:.2f} ms |")


if __name__ == "__main__":
    main()
