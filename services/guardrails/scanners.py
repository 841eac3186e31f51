"""The scanners: each reads text (normalised where it matters) and returns findings with spans; pure.

Pattern scanners come with validators where a format has one (Luhn for cards, mod-97 for IBANs, entropy for
generic secrets), so a number that merely looks like a card is not reported.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
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


# --- secrets -------------------------------------------------------------------------------------------------

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("private_key", r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----"),
        ("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
        ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
        ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
        ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{20,}\b"),
        ("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}\b"),
        ("openai_key", r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{32,}\b"),
        ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),
        ("connection_string", r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver)://[^\s:/@]+:[^\s@/]+@[^\s/]+"),
    )
)  # fmt: skip
_ASSIGNED_SECRET = re.compile(
    r"\b(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|password|passwd|pwd|client[_-]?secret)\b"
    r"\s*[:=]\s*['\"]?([^\s'\"]{8,})",
    re.IGNORECASE,
)


def shannon_entropy(text: str) -> float:
    """Bits per character: random keys score high (> 3.5), words and placeholders low."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


def scan_secrets(text: str) -> list[Finding]:
    """Keys, tokens, private keys and connection strings with credentials."""
    findings = [
        Finding("secrets", name, 0.99, m.start(), m.end(), name)
        for name, pattern in SECRET_PATTERNS
        for m in pattern.finditer(text)
    ]
    for m in _ASSIGNED_SECRET.finditer(text):
        value = m.group(1)
        if shannon_entropy(value) >= 3.0 and not re.fullmatch(r"[a-z]+|x+|\*+|<[^>]*>|\$\{?\w+\}?", value):
            findings.append(Finding("secrets", "assigned_secret", 0.8, m.start(1), m.end(1), "high-entropy value"))
    return without_overlaps(findings)


def without_overlaps(findings: list[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (-f.score, f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


# --- output scanners -----------------------------------------------------------------------------------------

_CITATION = re.compile(r"\[(\d{1,3})\]")
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be but by can do does for from has have how i if in into is it its may more must no not "
        "of on or so such than that the their then there these they this to was were what when which who will with "
        "you your",
    )
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def scan_citations(answer: str, retrieved: Iterable[int]) -> list[Finding]:
    """A citation number the answer was never given is a fabricated source."""
    valid = set(retrieved)
    return [
        Finding("citations", "invalid_citation", 1.0, m.start(), m.end(), f"cites [{m.group(1)}], not retrieved")
        for m in _CITATION.finditer(answer)
        if int(m.group(1)) not in valid
    ]


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def scan_grounding(answer: str, sources: dict[int, str], *, min_support: float = 0.5) -> list[Finding]:
    """Each sentence against the sources it cites (all sources when it cites none): a sentence whose content
    words are mostly absent from them is flagged as a possibly unsupported claim."""
    words = {n: _content_words(text) for n, text in sources.items()}
    findings = []
    for m in _SENTENCE.finditer(answer):
        sentence = m.group(0)
        claim = _content_words(_CITATION.sub(" ", sentence))
        if len(claim) < 4:
            continue  # too short to judge ("Yes [1].")
        cited = [int(n) for n in _CITATION.findall(sentence) if int(n) in words]
        pool = [words[n] for n in cited] if cited else list(words.values())
        support = max((len(claim & w) / len(claim) for w in pool), default=0.0)
        if support < min_support:
            findings.append(
                Finding(
                    "grounding", "unsupported_claim", round(1 - support, 3), m.start(), m.end(),
                    f"{support:.0%} of its content words appear in {'the cited' if cited else 'any'} source",
                )
            )  # fmt: skip
    return findings


def scan_canary(answer: str, canary: str) -> list[Finding]:
    """The system prompt's canary token in an answer means the model is repeating its instructions."""
    if canary and (at := answer.find(canary)) >= 0:
        return [Finding("canary", "system_prompt_leak", 1.0, at, at + len(canary), "canary token in the answer")]
    return []


_UNSAFE_MARKUP = re.compile(
    r"<\s*/?\s*(?:script|iframe|object|embed|form|meta|link|style|svg|img)\b[^>]*>"
    r"|\bon[a-z]+\s*=\s*['\"]"
    r"|\b(?:javascript|vbscript|data\s*:\s*text/html)\s*:"
    r"|!\[[^\]]*\]\(\s*https?://[^)\s]*\?[^)\s]*\)",
    re.IGNORECASE,
)


def scan_markup(answer: str) -> list[Finding]:
    """HTML, script URLs, event handlers and Markdown images with query strings (a data-exfiltration channel)."""
    return [
        Finding("markup", "unsafe_markup", 0.95, m.start(), m.end(), repr(m.group(0)[:60]))
        for m in _UNSAFE_MARKUP.finditer(answer)
    ]


def neutralise_markup(answer: str) -> str:
    """The answer safe to render: HTML escaped, remote Markdown images reduced to their alt text."""
    without_images = re.sub(r"!\[([^\]]*)\]\(\s*https?://[^)]*\)", r"\1", answer)
    return html.escape(without_images, quote=False).replace("javascript:", "javascript&#58;")


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
