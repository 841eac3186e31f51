"""Guardrail policies: which scanners run, their thresholds and the action per finding; versioned files.

A policy is a YAML file for a tenant and application (`*` matches any). The most specific policy applies:
tenant + application, then tenant, then application, then the default. A changed file must raise its
`version`; a file that does not parse or validate is rejected with a precise message and the version before it
stays active. Every verdict names the policy id and version that produced it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmops.logging import get_logger

log = get_logger(__name__)

ANY = "*"


class Action(IntEnum):
    """What a finding does to the request; the combined verdict is the strongest."""

    ALLOW = 1
    REDACT = 2
    BLOCK = 3


class Rule(BaseModel):
    """One scanner's settings in a policy."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    action: str = Field(default="block", pattern="^(allow|redact|block)$")
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Findings scoring below this are reported with action allow."""

    @property
    def act(self) -> Action:
        return Action[self.action.upper()]


class Topic(BaseModel):
    """A subject described in words; messages are matched to it by meaning."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=3, max_length=2000)
    examples: list[str] = Field(default_factory=list, max_length=50)
    """Questions typical of the topic: they sharpen the match more than a longer description does."""

    def texts(self) -> list[str]:
        return [self.description, *self.examples]


class TopicRules(BaseModel):
    """Deny lists block messages about a topic; allow lists block messages about none of theirs."""

    model_config = ConfigDict(extra="forbid")

    deny: list[Topic] = Field(default_factory=list, max_length=100)
    allow: list[Topic] = Field(default_factory=list, max_length=100)
    similarity: float = Field(default=0.3, ge=0.0, le=1.0)
    """Cosine similarity at which a message counts as being about a topic. With all-MiniLM-L6-v2, questions on
    a topic described with a few example questions score about 0.35-0.6 and unrelated ones below 0.25."""
    action: str = Field(default="block", pattern="^(allow|block)$")

    @property
    def rule(self) -> Rule:
        return Rule(enabled=bool(self.deny or self.allow), action=self.action, threshold=0.0)


LEARNED_INJECTION_THRESHOLD = 0.64
"""The shipped classifier's own threshold (chosen at training time, out of source, ≤ 2% benign flagged)."""


class StageRules(BaseModel):
    """A stage's rules; a rule a policy file sets in part keeps the stage's defaults for the rest."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: object) -> object:
        # `pii_ner: {enabled: true}` must keep pii_ner's default action (redact), not Rule's (block).
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, given in data.items():
            info = cls.model_fields.get(name)
            if info is not None and isinstance(info.default, Rule) and isinstance(given, dict):
                merged[name] = {**info.default.model_dump(), **given}
        return merged


class InputRules(StageRules):
    injection: Rule = Rule(action="block", threshold=0.7)
    injection_classifier: Rule = Rule(action="block", threshold=LEARNED_INJECTION_THRESHOLD)
    toxicity: Rule = Rule(action="block", threshold=0.7)
    language: Rule = Rule(action="block")
    allowed_languages: list[str] = Field(default_factory=list, max_length=200)
    """ISO 639-1 codes a message may be written in; empty allows any language."""
    topics: TopicRules = TopicRules()
    invisible_text: Rule = Rule(action="redact")
    secrets: Rule = Rule(action="redact")
    pii: Rule = Rule(action="redact", threshold=0.7)
    pii_ner: Rule = Rule(enabled=False, action="redact", threshold=0.6)
    """Names, places and groups by Presidio's NER (English); off by default: it costs ~10-18 ms a message."""
    token_limit: Rule = Rule(action="block")
    max_tokens: int = Field(default=8000, gt=0)


class OutputRules(StageRules):
    citations: Rule = Rule(action="redact")
    """A citation number that was never retrieved is removed from the answer (block makes it fatal)."""
    grounding: Rule = Rule(action="allow", threshold=0.5)
    canary: Rule = Rule(action="block")
    markup: Rule = Rule(action="redact")
    allowed_image_hosts: list[str] = Field(default_factory=list, max_length=200)
    """Hosts an answer may show images from (subdomains included); any other image could carry data out."""
    secrets: Rule = Rule(action="redact")
    pii: Rule = Rule(action="redact", threshold=0.7)
    pii_ner: Rule = Rule(enabled=False, action="redact", threshold=0.6)
    toxicity: Rule = Rule(action="redact", threshold=0.7)


class DocumentRules(StageRules):
    injection: Rule = Rule(action="block", threshold=0.6)
    injection_classifier: Rule = Rule(action="block", threshold=LEARNED_INJECTION_THRESHOLD)
    invisible_text: Rule = Rule(action="redact")


class Policy(BaseModel):
    """A versioned guardrail policy for a tenant and application."""

    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(ge=1)
    tenant: str = ANY
    application: str = ANY
    input: InputRules = InputRules()
    output: OutputRules = OutputRules()
    document: DocumentRules = DocumentRules()
    pii_replacement: str = Field(default="placeholder", pattern="^(placeholder|pseudonym)$")
    """Redacted personal data becomes `<EMAIL_ADDRESS>`, or a stable per-tenant alias `<PERSON_3f9a1c>` (the
    same alias ingestion's pseudonymise policy writes, so masked questions still match masked documents)."""
    body_yaml: str = Field(default="", exclude=True)


DEFAULT_POLICY = Policy(policy_id="default", version=1)


def _best_effort_identity(text: str, fallback_id: str) -> Policy:
    """Who a rejected file was meant for (tenant, application, id, version), as far as its YAML says."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    fields = data if isinstance(data, dict) else {}

    def text_field(name: str, default: str) -> str:
        value = fields.get(name)
        return value if isinstance(value, str) and value else default

    version = fields.get("version")
    return Policy.model_construct(
        policy_id=text_field("policy_id", fallback_id),
        version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
        tenant=text_field("tenant", ANY),
        application=text_field("application", ANY),
    )


def _change(source: str, digest: str, outcome: str, policy: Policy, error: str = "") -> PolicyChange:
    return PolicyChange(
        source, digest, outcome, policy.policy_id, policy.version, policy.tenant, policy.application, error
    )


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the field."""


def parse_policy(text: str, source: str) -> Policy:
    """A policy from YAML text, or PolicyError saying where it is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy is a mapping with policy_id, version, tenant, application, ...")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{source}: {problems}") from None
    return policy.model_copy(update={"body_yaml": text})


@dataclass(frozen=True)
class PolicyChange:
    """A policy file activated at a new version or rejected: published so the audit log records it."""

    source: str
    content_sha256: str
    outcome: str
    policy_id: str
    version: int
    tenant: str
    application: str
    error: str = ""


@dataclass
class PolicySet:
    """The active policies, reloaded from a directory; a bad or stale file never replaces a good version."""

    directory: Path | None = None
    policies: dict[tuple[str, str], Policy] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """File → why its latest content was rejected (cleared when it loads)."""
    _seen: dict[Path, float] = field(default_factory=dict)
    changes: list[PolicyChange] = field(default_factory=list)
    """Activations and rejections not yet published (`drain_changes`)."""

    def reload(self) -> list[str]:
        """Reads changed files; returns the messages of files rejected in this pass."""
        if self.directory is None or not self.directory.is_dir():
            return []
        rejected = []
        for path in sorted(self.directory.glob("**/*.y*ml")):
            mtime = path.stat().st_mtime
            if self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            text = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(text.encode()).hexdigest()
            policy: Policy | None = None
            try:
                policy = parse_policy(text, str(path))
                activated = self.accept(policy, str(path))
            except PolicyError as exc:
                self.errors[str(path)] = str(exc)
                rejected.append(str(exc))
                log.error("policy rejected; the previous version stays active", error=str(exc))  # noqa: TRY400
                named = policy or _best_effort_identity(text, path.stem)
                self.changes.append(_change(str(path), digest, "rejected", named, str(exc)))
            else:
                self.errors.pop(str(path), None)
                if activated:
                    self.changes.append(_change(str(path), digest, "activated", policy))
        return rejected

    def drain_changes(self) -> list[PolicyChange]:
        """The changes since the last call (the caller publishes them)."""
        drained, self.changes = self.changes, []
        return drained

    def accept(self, policy: Policy, source: str) -> bool:
        """Activates a policy (True when it is a new version); the same tenant/application must move to a higher
        version."""
        key = (policy.tenant, policy.application)
        current = self.policies.get(key)
        if current is not None and policy.version <= current.version and policy != current:
            raise PolicyError(
                f"{source}: version {policy.version} is not above the active version {current.version} of "
                f"{current.policy_id}; raise `version` when you change a policy"
            )
        activated = current is None or policy.version > current.version
        if activated:
            log.info("policy active", policy_id=policy.policy_id, version=policy.version, tenant=policy.tenant)
        self.policies[key] = policy
        return activated

    def for_request(self, tenant: str, application: str) -> Policy:
        """The most specific policy for a tenant and application."""
        for key in ((tenant, application), (tenant, ANY), (ANY, application), (ANY, ANY)):
            if key in self.policies:
                return self.policies[key]
        return DEFAULT_POLICY

    def all(self) -> Iterable[Policy]:
        return self.policies.values()
