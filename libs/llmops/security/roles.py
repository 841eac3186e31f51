"""Roles and the per-RPC access policy: which roles may call each method of the platform's protos.

A caller needs any one of a method's roles; `admin` satisfies every listed method. A method the table does not
list is refused to everyone, `admin` included (fail closed: a new RPC is unreachable until someone decides who may
call it, and a unit test fails until they do). Health checks and reflection need no credentials.

| Method | Roles (any one; `admin` always) | Why |
|---|---|---|
| `Assistant.Ask`, `AskStream` | reader, service | the product front door; feedback replays the golden set through it |
| `Ingestion.*` (all seven) | ingester | document content and metadata are managed by ingesting callers |
| `Prompts.GetPrompt`, `ListPromptVersions`, `ListPrompts` | reader, prompt-admin, service | reads |
| `Prompts.CreatePromptVersion`, `SetLabel`, `SetSplit` | prompt-admin | change what production answers with |
| `Prompts.Rollback` | prompt-admin, service | feedback's automatic rollback moves the label back |
| `Inference.Generate`, `GenerateStream` | service | raw generation skips retrieval and guardrails; products use `Ask` |
| `Embedding.Embed` | service | internal compute; no product needs vectors |
| `Retrieval.Search` | reader, service | scoped by tenant, clearance and groups, so a search UI may call it |
| `Guardrails.CheckInput`, `CheckOutput`, `CheckDocument` | service | an open checker is an injection oracle |
| `Guardrails.GetPolicy` | service, prompt-admin, compliance | policies are reviewed, not published |
| `Feedback.Submit` | reader, service | users rate answers; a product backend may forward ratings |
| `Feedback.Evaluate`, `CheckPromotion`, `ExportTrainingData` | prompt-admin, service | release gates, training data |
| `Feedback.GetQualityReport` | prompt-admin, compliance, service | quality oversight |
| `Audit.*` (all six, `Erase` included) | compliance | the tamper-evident record and erasure |
| `grpc.health.v1.Health/*`, `grpc.reflection.*/*` | none (public) | probes and tooling |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Protocol

from llmops.auth import Principal
from llmops.errors import PermissionDenied


class Role(StrEnum):
    """What a principal may do; granted per API key or by the identity provider's `roles` claim."""

    READER = "reader"
    INGESTER = "ingester"
    PROMPT_ADMIN = "prompt-admin"
    COMPLIANCE = "compliance"
    ADMIN = "admin"
    SERVICE = "service"


PUBLIC_SERVICES: frozenset[str] = frozenset(
    {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}
)
"""Services any caller may use without credentials."""


def _rules(service: str, roles: Iterable[Role], *methods: str) -> dict[str, frozenset[str]]:
    allowed = frozenset(r.value for r in roles)
    return {f"/{service}/{m}": allowed for m in methods}


_R, _I, _P, _C, _S = Role.READER, Role.INGESTER, Role.PROMPT_ADMIN, Role.COMPLIANCE, Role.SERVICE

PLATFORM_RULES: Mapping[str, frozenset[str]] = {
    **_rules("llmops.api.gateway.v1.Assistant", [_R, _S], "Ask", "AskStream"),
    **_rules(
        "llmops.api.ingestion.v1.Ingestion",
        [_I],
        "Ingest",
        "IngestStream",
        "GetDocument",
        "ListDocuments",
        "DeleteDocument",
        "CreateDatasetVersion",
        "ListDatasetVersions",
    ),
    **_rules("llmops.api.inference.v1.Prompts", [_R, _P, _S], "GetPrompt", "ListPromptVersions", "ListPrompts"),
    **_rules("llmops.api.inference.v1.Prompts", [_P], "CreatePromptVersion", "SetLabel", "SetSplit"),
    **_rules("llmops.api.inference.v1.Prompts", [_P, _S], "Rollback"),
    **_rules("llmops.api.inference.v1.Inference", [_S], "Generate", "GenerateStream"),
    **_rules("llmops.api.embedding.v1.Embedding", [_S], "Embed"),
    **_rules("llmops.api.retrieval.v1.Retrieval", [_R, _S], "Search"),
    **_rules("llmops.api.guardrails.v1.Guardrails", [_S], "CheckInput", "CheckOutput", "CheckDocument"),
    **_rules("llmops.api.guardrails.v1.Guardrails", [_S, _P, _C], "GetPolicy"),
    **_rules("llmops.api.feedback.v1.Feedback", [_R, _S], "Submit"),
    **_rules("llmops.api.feedback.v1.Feedback", [_P, _S], "Evaluate", "CheckPromotion", "ExportTrainingData"),
    **_rules("llmops.api.feedback.v1.Feedback", [_P, _C, _S], "GetQualityReport"),
    **_rules(
        "llmops.api.audit.v1.Audit",
        [_C],
        "Query",
        "Export",
        "GetTreeHead",
        "GetInclusionProof",
        "GetConsistencyProof",
        "Erase",
    ),
}
"""Full method name (`/package.Service/Method`) → roles, any one of which suffices."""


class AccessPolicy(Protocol):
    """Decides per method whether credentials are needed and whether a principal may call it."""

    def is_public(self, method: str) -> bool:
        """Whether `method` may be called without credentials."""
        ...

    def authorize(self, principal: Principal, method: str) -> None:
        """Returns if `principal` may call `method`.

        Raises:
            PermissionDenied: it may not; the message names the roles that would do.
        """
        ...


def _short(method: str) -> str:
    """`/llmops.api.audit.v1.Audit/Query` → `Audit.Query`, for messages."""
    service, _, name = method.lstrip("/").rpartition("/")
    return f"{service.rpartition('.')[2]}.{name}" if service else method


class RolePolicy:
    """An `AccessPolicy` from a method → roles table; `admin` satisfies every listed method."""

    def __init__(
        self,
        rules: Mapping[str, frozenset[str]],
        *,
        public_services: frozenset[str] = PUBLIC_SERVICES,
        superuser: str = Role.ADMIN.value,
    ) -> None:
        self._rules = dict(rules)
        self._public = public_services
        self._superuser = superuser

    @property
    def rules(self) -> Mapping[str, frozenset[str]]:
        """The table, by full method name."""
        return dict(self._rules)

    def is_public(self, method: str) -> bool:
        """Health and reflection: no credentials needed."""
        return method.lstrip("/").rpartition("/")[0] in self._public

    def required_roles(self, method: str) -> frozenset[str]:
        """Roles any one of which lets a caller call `method`; empty for public methods.

        Raises:
            PermissionDenied: the method is not in the table (fail closed).
        """
        if self.is_public(method):
            return frozenset()
        roles = self._rules.get(method)
        if roles is None:
            raise PermissionDenied(f"{_short(method)} has no access rule, so no one may call it")
        return roles

    def authorize(self, principal: Principal, method: str) -> None:
        """Returns if one of the principal's roles is among the method's (or is `admin`).

        Raises:
            PermissionDenied: naming the roles that would do, never what the caller presented.
        """
        required = self.required_roles(method)
        if not required:
            return
        held = set(principal.roles)
        if self._superuser in held or held & required:
            return
        needed = ", ".join(sorted(required | {self._superuser}))
        raise PermissionDenied(f"{_short(method)} needs one of the roles: {needed}")


PLATFORM_POLICY = RolePolicy(PLATFORM_RULES)
"""The platform's policy: `PLATFORM_RULES`, health and reflection public."""


def required_roles(full_method_name: str) -> frozenset[str]:
    """Roles any one of which lets a caller call `full_method_name` under the platform policy.

    Raises:
        PermissionDenied: the method is not in the table (fail closed).
    """
    return PLATFORM_POLICY.required_roles(full_method_name)
