"""Verdicts: run a stage's scanners under a policy and combine their findings into one action; pure.

The combined action is the strongest one any finding carries (block > redact > allow). With redact, the
verdict carries the text to continue with: personal data and secrets replaced by `<TYPE>` placeholders,
invisible characters removed, unsafe markup neutralised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from llmops.errors import InvalidArgument
from services.guardrails import credentials, markup, output_scanners, pii, scanners
from services.guardrails.classifier import SHIPPED, scan_learned_injection
from services.guardrails.language import IDENTIFIER, scan_language
from services.guardrails.normalize import INVISIBLE, normalize
from services.guardrails.policy import Action, Policy, Rule
from services.guardrails.scanners import Finding
from services.guardrails.toxicity import DETECTOR, scan_toxicity

MAX_TEXT_CHARS = 1_000_000


@dataclass(frozen=True)
class Judged:
    """A finding with the action its policy rule gives it."""

    finding: Finding
    action: Action


@dataclass(frozen=True)
class Verdict:
    """What the guardrails decided, why, and under which policy."""

    action: Action
    findings: list[Judged]
    policy_id: str
    policy_version: int
    redacted_text: str = ""
    stage: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def warm_up() -> None:
    """Loads the models (injection classifier, toxicity, language) so no request pays for it."""
    SHIPPED.get()
    DETECTOR.get()
    IDENTIFIER.get()


def validate_text(text: str, field_name: str) -> str:
    """Refuses empty and oversized texts with a message naming the field."""
    if not text.strip():
        raise InvalidArgument(f"{field_name} is empty; send the text to check")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidArgument(f"{field_name} has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    return text


def _judge(scan: Callable[[], Sequence[Finding]], rule: Rule) -> list[Judged]:
    """Runs a scanner its rule enables and gives each finding the rule's action (allow below the threshold)."""
    if not rule.enabled:
        return []
    return [Judged(f, rule.act if f.score >= rule.threshold else Action.ALLOW) for f in scan()]


def _combine(
    text: str, judged: list[Judged], policy: Policy, stage: str, rewrite: Callable[[str, list[Judged]], str]
) -> Verdict:
    action = max((j.action for j in judged), default=Action.ALLOW)
    redacted = rewrite(text, judged) if action == Action.REDACT else ""
    return Verdict(action, judged, policy.policy_id, policy.version, redacted, stage)


def _redact_input(text: str, judged: list[Judged], replacement: pii.Replacement | None = None) -> str:
    spans = [j.finding for j in judged if j.action == Action.REDACT and j.finding.category != "invisible_text"]
    redacted = scanners.redact(text, spans, replacement)
    if any(j.action == Action.REDACT and j.finding.category == "invisible_text" for j in judged):
        redacted = INVISIBLE.sub("", redacted)
    return redacted


def scan_input(text: str, policy: Policy) -> list[Judged]:
    """The in-process input scanners' judged findings: injection and jailbreak (patterns and the learned layer),
    toxicity, language, invisible text, secrets, personal data, size."""
    rules = policy.input
    normalized = normalize(text)
    return [
        *_judge(lambda: scanners.scan_injection(normalized), rules.injection),
        *_judge(lambda: scan_learned_injection(normalized), rules.injection_classifier),
        *_judge(lambda: scan_toxicity(text), rules.toxicity),
        *_judge(lambda: scan_language(text, rules.allowed_languages), rules.language),
        *_judge(lambda: scanners.scan_invisible(normalized), rules.invisible_text),
        *_judge(lambda: credentials.scan_secrets(text), rules.secrets),
        *_judge(lambda: pii.scan_pii(text), rules.pii),
        *_judge(lambda: pii.scan_pii_ner(text), rules.pii_ner),
        *_judge(lambda: scanners.scan_token_limit(text, rules.max_tokens), rules.token_limit),
    ]


def judge_topics(topics: Sequence[Finding], policy: Policy) -> list[Judged]:
    """Topic findings (matched by embedding outside this module: `topics.scan_topics`) under the policy."""
    return _judge(lambda: topics, policy.input.topics.rule)


def input_verdict(text: str, policy: Policy, judged: list[Judged], salt: str = "") -> Verdict:
    """The combined verdict; `salt` (the tenant) keys pseudonyms when the policy asks for them."""
    replacement = pii.replacer(policy.pii_replacement, salt)
    return _combine(text, judged, policy, "input", lambda t, j: _redact_input(t, j, replacement))


def check_input(text: str, policy: Policy, topics: Sequence[Finding] = (), salt: str = "") -> Verdict:
    """A user's message under every input scanner, with topic findings already matched."""
    return input_verdict(text, policy, [*judge_topics(topics, policy), *scan_input(text, policy)], salt)


def check_document(text: str, policy: Policy) -> Verdict:
    """Document or retrieved text: instructions hidden in it for the model (indirect injection)."""
    rules = policy.document
    normalized = normalize(text)
    judged = [
        *_judge(lambda: scanners.scan_injection(normalized, indirect=True), rules.injection),
        *_judge(lambda: scan_learned_injection(normalized), rules.injection_classifier),
        *_judge(lambda: scanners.scan_invisible(normalized), rules.invisible_text),
    ]
    return _combine(text, judged, policy, "document", _redact_input)


def check_output(answer: str, sources: Mapping[int, str], canary: str, policy: Policy, salt: str = "") -> Verdict:
    """An answer: citations that were never retrieved, unsupported sentences, leaked system prompt (canary),
    markup unsafe to render, secrets, personal data and toxicity."""
    rules = policy.output
    judged = [
        *_judge(lambda: output_scanners.scan_citations(answer, sources.keys()), rules.citations),
        *_judge(lambda: output_scanners.scan_grounding(answer, dict(sources)), rules.grounding),
        *_judge(lambda: output_scanners.scan_canary(answer, canary), rules.canary),
        *_judge(lambda: markup.scan_markup(answer, allowed_image_hosts=rules.allowed_image_hosts), rules.markup),
        *_judge(lambda: credentials.scan_secrets(answer), rules.secrets),
        *_judge(lambda: pii.scan_pii(answer), rules.pii),
        *_judge(lambda: pii.scan_pii_ner(answer), rules.pii_ner),
        *_judge(lambda: scan_toxicity(answer), rules.toxicity),
    ]
    replacement = pii.replacer(policy.pii_replacement, salt)

    def rewrite(text: str, found: list[Judged]) -> str:
        scanned = ("secrets", "pii", "citations", "toxicity")
        spans = [j.finding for j in found if j.action == Action.REDACT and j.finding.scanner in scanned]
        redacted = scanners.redact(text, spans, replacement)
        if any(j.action == Action.REDACT and j.finding.scanner == "markup" for j in found):
            redacted = markup.neutralise_markup(redacted, allowed_image_hosts=rules.allowed_image_hosts)
        return redacted

    return _combine(answer, judged, policy, "output", rewrite)
