"""The prompt registry's rules: immutable versions, labels that move, sticky A/B splits; pure, no I/O.

A prompt belongs to a tenant; the platform's built-in prompts live in the `SHARED_TENANT` namespace and a
tenant's own prompt of the same name overrides them. Versions never change once written. Labels
(`production`, `staging`, custom) point at versions; each label keeps the stack of versions it pointed at, so
rollback returns to the one before. A split sends a weighted share of users to each label, and a user keeps
their label for as long as the split does not change.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from llmops.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

SHARED_TENANT = "_shared"
"""Namespace of the platform's built-in prompts, visible to every tenant that has no prompt of that name."""
PRODUCTION = "production"
MAX_TEMPLATE_CHARS = 32_000
MAX_VARIABLES = 32
MAX_LABEL_HISTORY = 50
DEFAULT_VARIABLE_MAX_CHARS = 50_000

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
ROLES = ("system", "user")


class Variable(BaseModel):
    """One template variable: its name, whether a caller must send it, and its size bound."""

    name: str
    description: str = ""
    required: bool = True
    default: str = ""
    max_chars: int = DEFAULT_VARIABLE_MAX_CHARS


class ModelParameters(BaseModel):
    """Generation parameters a version carries; zero means the service default, a caller's value wins."""

    max_tokens: int = 0
    temperature: float = 0.0
    top_p: float = 0.0
    top_k: int = 0
    seed: int = 0
    stop_words: list[str] = Field(default_factory=list)
    repetition_penalty: float = 0.0


class PromptVersion(BaseModel):
    """One immutable version of a prompt."""

    tenant: str
    name: str
    version: int
    system: str = ""
    template: str
    variables: list[Variable] = Field(default_factory=list)
    parameters: ModelParameters = Field(default_factory=ModelParameters)
    model: str = ""
    """A model or route to use; empty = routed by the inference service's rules."""
    description: str = ""
    created_by: str
    created_at: datetime


class PromptHead(BaseModel):
    """The mutable part of a prompt: newest version, labels with their history, and the traffic split."""

    tenant: str
    name: str
    latest: int = 0
    labels: dict[str, list[int]] = Field(default_factory=dict)
    """Label → the versions it pointed at, oldest first; the last is current."""
    split: dict[str, float] = Field(default_factory=dict)
    """Label → share of users (sums to 1); empty = everyone gets `production`."""

    def label_version(self, label: str) -> int | None:
        """The version a label points at now."""
        stack = self.labels.get(label)
        return stack[-1] if stack else None

    def labels_of(self, version: int) -> list[str]:
        """The labels that point at `version` now, sorted."""
        return sorted(label for label, stack in self.labels.items() if stack and stack[-1] == version)


def validate_name(value: str, field: str) -> str:
    """A prompt or label name: lowercase letters, digits, `-` and `_`, up to 63 characters."""
    if not _NAME.match(value):
        raise InvalidArgument(
            f"{field} is {value!r}; use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


def validate_tenant(value: str) -> str:
    """Tenants name key-value keys, so they are limited to letters, digits, `-` and `_`."""
    if not _TENANT.match(value):
        raise InvalidArgument(f"tenant {value!r} cannot own prompts; tenant ids use letters, digits, '-' or '_'")
    return value


def caller_tenant(value: str) -> str:
    """A caller's tenant: valid, and never the platform's namespace (`_`-prefixed ids are reserved)."""
    if value.startswith("_"):
        raise PermissionDenied(f"tenant ids starting with '_' are reserved for the platform; {value!r} is not a tenant")
    return validate_tenant(value)


def placeholders(text: str) -> set[str]:
    """The `{{ variable }}` names a template uses."""
    return set(_PLACEHOLDER.findall(text))


def new_version(
    *,
    tenant: str,
    name: str,
    version: int,
    template: str,
    system: str = "",
    variables: Sequence[Variable] = (),
    parameters: ModelParameters | None = None,
    model: str = "",
    description: str = "",
    created_by: str,
    created_at: datetime,
) -> PromptVersion:
    """A validated version: every placeholder declared, every declared variable used, sizes bounded."""
    validate_tenant(tenant)
    validate_name(name, "name")
    if not template.strip():
        raise InvalidArgument("template is empty; write the user message, with {{variable}} placeholders")
    size = len(template) + len(system)
    if size > MAX_TEMPLATE_CHARS:
        raise InvalidArgument(f"system and template hold {size} characters; the limit is {MAX_TEMPLATE_CHARS}")
    if len(variables) > MAX_VARIABLES:
        raise InvalidArgument(f"at most {MAX_VARIABLES} variables")
    declared: dict[str, Variable] = {}
    for i, variable in enumerate(variables):
        if not _VARIABLE.match(variable.name):
            raise InvalidArgument(f"variables[{i}].name {variable.name!r} is not an identifier (letters, digits, _)")
        if variable.name in declared:
            raise InvalidArgument(f"variable {variable.name!r} is declared twice")
        if variable.max_chars <= 0:
            raise InvalidArgument(f"variables[{i}].max_chars must be positive")
        if len(variable.default) > variable.max_chars:
            raise InvalidArgument(f"variables[{i}].default is longer than its max_chars ({variable.max_chars})")
        declared[variable.name] = variable
    used = placeholders(template) | placeholders(system)
    if undeclared := sorted(used - declared.keys()):
        raise InvalidArgument(f"the template uses undeclared variables {undeclared}; declare them in variables")
    if unused := sorted(declared.keys() - used):
        raise InvalidArgument(f"variables {unused} are declared but the template never uses them")
    params = parameters or ModelParameters()
    if params.max_tokens < 0 or not 0 <= params.temperature <= 2 or not 0 <= params.top_p <= 1 or params.top_k < 0:
        raise InvalidArgument("parameters: max_tokens and top_k must not be negative, temperature is 0-2 and top_p 0-1")
    if not math.isfinite(params.repetition_penalty) or params.repetition_penalty < 0:
        # NaN would be stored as JSON null, and every later read of the version would fail.
        raise InvalidArgument("parameters.repetition_penalty must be a finite number ≥ 0 (0: the service default)")
    return PromptVersion(
        tenant=tenant,
        name=name,
        version=version,
        system=system,
        template=template,
        variables=list(variables),
        parameters=params,
        model=model,
        description=description,
        created_by=created_by,
        created_at=created_at,
    )


def render(version: PromptVersion, values: Mapping[str, str]) -> list[tuple[str, str]]:
    """(role, content) messages with every placeholder replaced, in one pass.

    One pass means a value that itself contains `{{x}}` is inserted literally, never expanded: a user cannot
    reach another variable (or the system prompt) through their input.
    """
    declared = {v.name: v for v in version.variables}
    if unknown := sorted(values.keys() - declared.keys()):
        raise InvalidArgument(
            f"prompt {version.name} v{version.version} has no variables {unknown}; it takes {sorted(declared)}"
        )
    resolved: dict[str, str] = {}
    for name, variable in declared.items():
        if name in values:
            value = values[name]
        elif variable.required:
            raise InvalidArgument(f"prompt {version.name} v{version.version} needs variable {name!r}")
        else:
            value = variable.default
        if len(value) > variable.max_chars:
            raise InvalidArgument(f"variable {name!r} holds {len(value)} characters; the limit is {variable.max_chars}")
        resolved[name] = value

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: resolved[m.group(1)], text)

    messages = [("system", fill(version.system))] if version.system.strip() else []
    messages.append(("user", fill(version.template)))
    return messages


def move_label(head: PromptHead, label: str, version: int) -> tuple[PromptHead, int | None]:
    """The head with `label` on `version`, and the version it pointed at before (None if new)."""
    validate_name(label, "label")
    if not 1 <= version <= head.latest:
        raise NotFound(f"prompt {head.name} has no version {version}; its versions are 1-{head.latest}")
    previous = head.label_version(label)
    if previous == version:
        return head, previous
    stack = [*head.labels.get(label, []), version][-MAX_LABEL_HISTORY:]
    return head.model_copy(update={"labels": {**head.labels, label: stack}}), previous


def roll_back(head: PromptHead, label: str) -> tuple[PromptHead, int, int]:
    """The head with `label` back on the version it pointed at before; also (from, to) versions."""
    validate_name(label, "label")
    stack = head.labels.get(label, [])
    if not stack:
        raise NotFound(f"prompt {head.name} has no label {label!r}")
    if len(stack) < 2:
        raise FailedPrecondition(f"label {label!r} of prompt {head.name} has no earlier version to roll back to")
    return head.model_copy(update={"labels": {**head.labels, label: stack[:-1]}}), stack[-1], stack[-2]


def set_split(head: PromptHead, weights: Mapping[str, float]) -> PromptHead:
    """The head with a traffic split over existing labels (weights are normalised); empty clears it."""
    for label, weight in weights.items():
        validate_name(label, "split label")
        if head.label_version(label) is None:
            raise FailedPrecondition(f"prompt {head.name} has no label {label!r}; set it before splitting traffic")
        if not math.isfinite(weight) or weight < 0:
            raise InvalidArgument(f"split weight of {label!r} is {weight}; use a finite number, 0 or more")
    total = sum(weights.values())
    if weights and total <= 0:
        raise InvalidArgument("split weights sum to zero; give at least one label a positive weight")
    split = {label: w / total for label, w in sorted(weights.items()) if w > 0} if weights else {}
    return head.model_copy(update={"split": split})


def assigned_label(head: PromptHead, user: str) -> str:
    """The label a user gets: by split, sticky per (prompt, user), else `production`.

    The user's position in [0, 1) comes from a hash, so every replica assigns the same label without state.
    """
    if not head.split:
        return PRODUCTION
    digest = hashlib.sha256(f"{head.tenant}/{head.name}/{user}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for label, weight in head.split.items():
        cumulative += weight
        if position < cumulative:
            return label
    return next(reversed(head.split))


def resolve_version(head: PromptHead, *, label: str = "", version: int = 0, user: str = "") -> tuple[int, str]:
    """(version, label it came through): an explicit version wins, then a label, then the user's split label."""
    if version:
        if not 1 <= version <= head.latest:
            raise NotFound(f"prompt {head.name} has no version {version}; its versions are 1-{head.latest}")
        return version, ""
    chosen = label or assigned_label(head, user)
    found = head.label_version(chosen)
    if found is None:
        raise NotFound(f"prompt {head.name} has no label {chosen!r}; its labels are {sorted(head.labels)}")
    return found, chosen
