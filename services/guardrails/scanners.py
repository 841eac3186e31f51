"""The input scanners (injection, invisible text, size), findings, and redaction; pure.

Each reads text (normalised where it matters) and returns findings with spans. Secrets are `credentials.py`;
the answer scanners are `output_scanners.py` and `markup.py`.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from services.guardrails.normalize import Normalized


@dataclass(frozen=True)
class Finding:
    """Something a scanner found: which scanner, what kind, how sure, and where in the original text."""

    scanner: str
    category: str
    score: float
    start: int = 0
    end: int = 0
    detail: str = ""


# --- prompt injection ----------------------------------------------------------------------------------------

_INSTRUCTIONS = r"(?:instructions?|rules|prompts?|directions|guidelines|directives|context|messages?)"
INJECTION_PATTERNS: tuple[tuple[str, float, re.Pattern[str]], ...] = tuple(
    (category, weight, re.compile(pattern, re.IGNORECASE))
    for category, weight, pattern in (
        ("prompt_injection", 0.95, rf"\b(?:ignore|disregard|forget|override|skip|drop)\b[^.!?\n]{{0,40}}\b(?:previous|prior|above|earlier|preceding|all|any|your|the|these|those|initial|original|system)\b[^.!?\n]{{0,25}}\b{_INSTRUCTIONS}"),
        ("prompt_injection", 0.9, r"\b(?:reveal|print|show|repeat|output|display|leak|tell me|what (?:is|are|was|were))\b[^.!?\n]{0,30}\b(?:your|the)\b[^.!?\n]{0,15}\b(?:system prompt|initial prompt|hidden prompt|original prompt|instructions|system message|prompt above)"),
        ("prompt_injection", 0.8, r"(?:^|\n|\s)(?:new|updated|real|actual|revised) (?:instructions?|task|rules)\s*:|<\|im_start\|>\s*system|\[/?INST\]|<<SYS>>|###\s*(?:system|instruction)"),
        ("jailbreak", 0.85, r"\b(?:you are now|from now on,? you(?:'re| are| will)?|act as|pretend (?:to be|you are|that you)|roleplay as|simulate)\b[^.!?\n]{0,40}\b(?:unrestricted|uncensored|unfiltered|jailbroken|without (?:any )?(?:rules|restrictions|limits|filters)|no (?:rules|restrictions|limits|filters)|evil|dan\b)"),
        ("jailbreak", 0.85, r"\b(?:developer|god|debug|sudo|admin|dan) mode\b|\bdo anything now\b|\bjailbreak(?:ed|ing)?\b"),
        ("jailbreak", 0.8, r"\b(?:bypass|circumvent|disable|turn off|deactivate|ignore)\b[^.!?\n]{0,20}\b(?:safety|content|ethical|moderation|guardrails?|filters?|restrictions|policies|policy)\b"),
        ("jailbreak", 0.7, r"\bwithout (?:any )?(?:restrictions|filters|limitations|censorship|ethical (?:guidelines|constraints))\b"),
        ("prompt_injection", 0.9, r"\bignorier(?:e|en)?\b[^.!?\n]{0,30}\b(?:anweisungen|instruktionen|regeln|vorgaben)\b"),
        ("prompt_injection", 0.9, r"\bignor(?:e|ez|er)\b[^.!?\n]{0,30}\b(?:instructions|consignes|r[eè]gles)\b"),
        ("prompt_injection", 0.9, r"\bignor(?:a|e|ar)\b[^.!?\n]{0,30}\b(?:instrucciones|instru[cç][oõ]es|istruzioni|regras|reglas|regole)\b"),
        ("prompt_injection", 0.85, r"(?:忽略|无视)[^。！？\n]{0,15}(?:指令|指示|提示)|(?:無視|忽略)[^。！？\n]{0,15}(?:指示|命令)"),
        ("indirect_injection", 0.75, r"\b(?:important|attention|note)\s*(?:to|for)?\s*(?:the )?(?:ai|assistant|model|llm|chatbot)\b\s*[:,-]"),
        ("indirect_injection", 0.75, r"\b(?:when|if) (?:you|the (?:ai|assistant|model)) (?:read|see|process|summari[sz]e)s? this\b"),
        ("indirect_injection", 0.8, r"\b(?:send|forward|post|upload|exfiltrate|email)\b[^.!?\n]{0,30}\b(?:conversation|chat history|user data|credentials|passwords?|api keys?|secrets?)\b[^.!?\n]{0,20}\bto\b"),
        ("prompt_injection", 0.9, r"\b(?:ignore|disregard|forget)\b\s+(?:about\s+)?(?:everything|all|anything)\b[^.!?\n]{0,20}\b(?:above|before|earlier|previously|you (?:were|have been) told|we discussed)\b"),
        ("prompt_injection", 0.85, r"\b(?:repeat|print|output|reproduce|dump)\b[^.!?\n]{0,25}\b(?:words|text|everything|all)\b[^.!?\n]{0,20}\b(?:above|in your context|before this)\b"),
        ("jailbreak", 0.85, r"\b(?:no|without (?:any )?)(?:content )?(?:polic(?:y|ies)|filters?|limits|restrictions|guidelines)\b[^.!?\n]{0,25}\b(?:whatsoever|at all|answer|respond|freely)\b|\bas if you (?:have|had) no\b"),
        ("prompt_injection", 0.85, r"\b(?:your (?:rules|instructions|guidelines) have (?:changed|been updated)|new directive|supersedes? (?:all )?(?:prior|previous|earlier)|safety (?:protocols?|checks?) (?:are )?(?:disabled|off|suspended))\b"),
        ("prompt_injection", 0.8, r"(?:^|\n|---)\s*(?:system|assistant)\s*:\s*(?:you may|you can|sure|here is|ok)"),
        ("indirect_injection", 0.8, r"\b(?:call|invoke|run|use)\s+`?[a-z]+_[a-z_]+`?\b[^.!?\n]{0,60}\b(?:before|to|on|with)\b"),
        ("indirect_injection", 0.8, r"\b(?:email|send|forward|post)\b[^.!?\n]{0,60}\bto\s+[\w.+-]+@[\w-]+\.[\w.]+"),
        ("indirect_injection", 0.75, r"\b(?:append|include|add|repeat)\b[^.!?\n]{0,40}\b(?:token|code|reference|id)\b[^.!?\n]{0,40}\b(?:reply|replies|answer|response|summary|review|report)\b"),
        ("indirect_injection", 0.8, r"\b(?:ai|assistant|agent|bot|model|llm)s?\b[^.!?\n]{0,25}\b(?:reading|processing|reviewing|integrating)\b[^.!?\n]{0,40}\b(?:should|must|are (?:hereby )?instructed|ignore|disregard)\b"),
        ("prompt_injection", 0.85, r"\b(?:vergiss|oubliez|oublie|olvida|dimentica|esquece)\b[^.!?\n]{0,25}\b(?:alles|toutes?|todas?|tutte|tudo|instru\w*|anweisung\w*|regeln)\b"),
        ("prompt_injection", 0.85, r"\b(?:verrate|r[ée]v[eè]le|revela|rivela)\b[^.!?\n]{0,30}\b(?:system\w*|instru\w*|anweisung\w*)\b"),
        ("jailbreak", 0.8, r"\b(?:uneingeschr[äa]nkt|sans restrictions?|sin restricci[oó]n(?:es)?|senza restrizioni|sem restri[cç][õo]es|keine regeln|modo desarrollador|mode d[ée]veloppeur|entwicklermodus)\b"),
    )
)  # fmt: skip


def scan_injection(normalized: Normalized, *, indirect: bool = False) -> list[Finding]:
    """Instruction-override, prompt-extraction and jailbreak phrasing, in the text and in decoded payloads.

    Spans of matches in the normalised text are reported as the whole text (positions shift in
    normalisation); a payload found only after decoding carries the encoded run's span.
    """
    findings: list[Finding] = []
    sources = [("text", normalized.text, (0, 0))] + [(kind, text, span) for kind, text, span in normalized.decoded]
    for origin, text, span in sources:
        for category, base_weight, pattern in INJECTION_PATTERNS:
            weight = base_weight
            if category == "indirect_injection" and not indirect and origin == "text":
                weight -= 0.15  # instructions addressed to "the AI" are the mark of injected documents
            match = pattern.search(text)
            if match is None:
                continue
            detail = f"{origin}: {match.group(0)[:80]!r}" if origin != "text" else repr(match.group(0)[:80])
            score = min(1.0, weight + (0.05 if origin != "text" else 0.0))  # hiding it is itself a signal
            findings.append(Finding("injection", category, round(score, 3), span[0], span[1], detail))
    return _strongest_per_category(findings)


def _strongest_per_category(findings: Iterable[Finding]) -> list[Finding]:
    best: dict[str, Finding] = {}
    for f in findings:
        if f.category not in best or f.score > best[f.category].score:
            best[f.category] = f
    return list(best.values())


# --- invisible text and size ---------------------------------------------------------------------------------


def scan_invisible(normalized: Normalized) -> list[Finding]:
    """Zero-width, bidirectional-control and tag characters: text a reader cannot see."""
    if not normalized.invisible:
        return []
    start, end = normalized.invisible[0][0], normalized.invisible[-1][1]
    detail = f"{len(normalized.invisible)} invisible character(s)"
    return [Finding("invisible_text", "invisible_text", 1.0, start, end, detail)]


def estimate_tokens(text: str) -> int:
    """About four characters per token: the budget check must not cost a tokenizer call."""
    return math.ceil(len(text) / 4)


def scan_token_limit(text: str, max_tokens: int) -> list[Finding]:
    tokens = estimate_tokens(text)
    if max_tokens and tokens > max_tokens:
        return [
            Finding("token_limit", "too_long", 1.0, 0, len(text), f"about {tokens} tokens; the limit is {max_tokens}")
        ]
    return []


def without_overlaps(findings: list[Finding]) -> list[Finding]:
    """The findings that overlap none scoring higher (or, scoring the same, starting earlier), by position."""
    kept: list[Finding] = []  # sorted by start, never overlapping: only the neighbours can collide
    starts: list[int] = []
    for f in sorted(findings, key=lambda f: (-f.score, f.start)):
        at = bisect.bisect_left(starts, f.start)
        if (at == 0 or kept[at - 1].end <= f.start) and (at == len(kept) or f.end <= kept[at].start):
            kept.insert(at, f)
            starts.insert(at, f.start)
    return kept


def placeholder(finding: Finding) -> str:
    """What a redacted span becomes: `<CATEGORY>`; a fabricated citation marker simply disappears."""
    return "" if finding.category == "invalid_citation" else f"<{finding.category.upper()}>"


def redact(text: str, findings: Sequence[Finding], replacement: Callable[[Finding, str], str] | None = None) -> str:
    """`text` with each finding's span replaced (overlaps merged, later spans first): by its placeholder, or by
    what `replacement(finding, original)` returns."""
    spans = sorted((f for f in findings if f.end > f.start), key=lambda f: f.start)
    merged: list[tuple[int, int, Finding]] = []
    for f in spans:
        if merged and f.start < merged[-1][1]:
            start, end, first = merged[-1]
            merged[-1] = (start, max(end, f.end), first)
        else:
            merged.append((f.start, f.end, f))
    for start, end, finding in reversed(merged):
        value = replacement(finding, text[start:end]) if replacement else placeholder(finding)
        text = f"{text[:start]}{value}{text[end:]}"
    return text
