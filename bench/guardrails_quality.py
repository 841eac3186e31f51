"""Guardrails quality on labelled data: injection recall and false-positive rate, per channel and language.

Data (in the repository):
- `bench/data/guardrails/bastioncorpus-0.6.0-injections.jsonl`: the `bastioncorpus` 0.6.0 package's corpus (MIT,
  licence beside it): 181 prompts, 118 injections and 63 benign false-positive traps ("Please ignore case when
  you sort..."), in English, German, French, Italian and Spanish, arriving as user input, tool output or memory.
- `bench/data/cache_paraphrases.jsonl`: 200 benign questions about CPython and workplace topics.

Each text goes through the default policy as the gateway would send it: user input → `CheckInput`; tool output
and memory (retrieved or injected content) → `CheckDocument`. Detected = an injection-family finding the policy
blocks.

    .venv/bin/python bench/guardrails_quality.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from services.guardrails import core
from services.guardrails.policy import DEFAULT_POLICY, Action

DATA = Path(__file__).parent / "data"
INJECTION = {"prompt_injection", "jailbreak", "indirect_injection"}


def detected(text: str, channel: str) -> bool:
    verdict = (
        core.check_input(text, DEFAULT_POLICY) if channel == "user_input" else core.check_document(text, DEFAULT_POLICY)
    )
    return any(j.action == Action.BLOCK and j.finding.category in INJECTION for j in verdict.findings)


def main() -> None:
    rows = [json.loads(line) for line in (DATA / "guardrails" / "bastioncorpus-0.6.0-injections.jsonl").open()]
    questions = [q for line in (DATA / "cache_paraphrases.jsonl").open() for q in json.loads(line)["questions"]]
    samples = [(r["text"], r["label"] == "malicious", r["channel"], r["lang"], "bastioncorpus") for r in rows]
    samples += [(q, False, "user_input", "en", "cpython-questions") for q in questions]
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for text, malicious, channel, lang, source in samples:
        hit = detected(text, channel)
        for group in ("all", f"channel={channel}", f"lang={lang}", f"source={source}"):
            groups[group].append((malicious, hit))
    print("| slice | injections | recall | benign | false positives | FPR | precision |")
    print("|---|---|---|---|---|---|---|")
    for group, pairs in sorted(groups.items(), key=lambda g: (g[0] != "all", g[0])):
        positives = [hit for malicious, hit in pairs if malicious]
        negatives = [hit for malicious, hit in pairs if not malicious]
        tp, fp = sum(positives), sum(negatives)
        recall = f"{tp / len(positives):.1%}" if positives else "-"
        fpr = f"{fp / len(negatives):.1%}" if negatives else "-"
        precision = f"{tp / (tp + fp):.1%}" if tp + fp else "-"
        print(f"| {group} | {len(positives)} | {recall} | {len(negatives)} | {fp} | {fpr} | {precision} |")


if __name__ == "__main__":
    main()
