"""Which model answers: rules by tenant, prompt and a complexity estimate, each naming a fallback chain; pure.

The first rule that matches wins; its `models` are tried in order, the next one when a model is unavailable,
times out or has its circuit open. A request (or its prompt version) that names a model skips the rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from pydantic import BaseModel, Field, model_validator

from llmops.errors import FailedPrecondition, InvalidArgument

_REASONING = re.compile(
    r"\b(why|explain|compare|contrast|differences?|trade-?offs?|analy[sz]e|evaluate|prove|derive|"
    r"step[- ]by[- ]step|reason|justify|implications?|design|plan)\b",
    re.IGNORECASE,
)
_CODE = re.compile(r"```|\bdef |\bclass |\breturn\b|[{};]\s*$", re.MULTILINE)


class RouteRule(BaseModel):
    """One routing rule; empty `tenants`/`prompts` match any."""

    name: str
    models: list[str] = Field(min_length=1)
    """The model first, then its fallbacks, by name in `models` settings."""
    tenants: list[str] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)
    min_complexity: float = Field(default=0.0, ge=0.0, le=1.0)
    max_complexity: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _range(self) -> RouteRule:
        if self.min_complexity > self.max_complexity:
            raise ValueError(f"route {self.name}: min_complexity is above max_complexity")
        return self

    def matches(self, tenant: str, prompt: str, complexity: float) -> bool:
        return (
            (not self.tenants or tenant in self.tenants)
            and (not self.prompts or prompt in self.prompts)
            and self.min_complexity <= complexity <= self.max_complexity
        )


def estimate_complexity(user_text: str, prompt_tokens: int) -> float:
    """A 0-1 guess at how much reasoning a request needs, from signals a router can read for free.

    Long prompts, several questions, reasoning verbs and code each raise it; a short factual question stays
    near zero. It is a routing heuristic, not a quality judgement: rules choose their own thresholds.
    """
    length = min(prompt_tokens / 3000, 1.0) * 0.35
    questions = min(user_text.count("?") / 3, 1.0) * 0.15
    reasoning = min(len(_REASONING.findall(user_text)) / 3, 1.0) * 0.35
    code = 0.15 if _CODE.search(user_text) else 0.0
    return round(length + questions + reasoning + code, 4)


def validate_routes(routes: Sequence[RouteRule], models: Collection[str]) -> None:
    """Every rule names only configured models; raised at start-up so a typo never reaches a request."""
    if not routes:
        raise ValueError("no routes configured; add at least one rule with a model")
    for rule in routes:
        if unknown := sorted(set(rule.models) - set(models)):
            raise ValueError(f"route {rule.name} names unknown models {unknown}; configured: {sorted(models)}")


def choose(
    routes: Sequence[RouteRule],
    models: Collection[str],
    *,
    tenant: str,
    prompt: str,
    complexity: float,
    requested: str = "",
) -> tuple[str, list[str]]:
    """(route name, models to try in order) for a request."""
    if requested:
        if requested not in models:
            raise InvalidArgument(f"model {requested!r} is not configured; choose one of {sorted(models)}")
        return "requested", [requested]
    for rule in routes:
        if rule.matches(tenant, prompt, complexity):
            return rule.name, list(rule.models)
    raise FailedPrecondition(f"no route matches tenant {tenant!r}, prompt {prompt!r}; add a catch-all route")
