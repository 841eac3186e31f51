"""The caller's principal, read from gRPC metadata.

Embedded mode trusts the `x-llmops-*` headers (no credentials yet); the security issue replaces this with API
keys and JWT. Services take the principal only from here, so that change lands in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from llmops.events import Classification

TENANT_HEADER = "x-llmops-tenant"
USER_HEADER = "x-llmops-user"
GROUPS_HEADER = "x-llmops-groups"


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    tenant: str
    subject: str
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    clearance: Classification = Classification.INTERNAL
    extra: dict[str, str] = field(default_factory=dict)


def principal_from_metadata(metadata: Sequence[tuple[str, str | bytes]] | None, default_tenant: str) -> Principal:
    """Builds the principal from invocation metadata; missing headers fall back to the embedded defaults."""
    values = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in (metadata or ())}
    groups = tuple(g.strip() for g in values.get(GROUPS_HEADER, "").split(",") if g.strip())
    return Principal(
        tenant=values.get(TENANT_HEADER, "").strip() or default_tenant,
        subject=values.get(USER_HEADER, "").strip() or "anonymous",
        groups=groups,
    )


def principal_metadata(principal: Principal) -> list[tuple[str, str]]:
    """Metadata that carries a principal to a downstream call."""
    headers = [(TENANT_HEADER, principal.tenant), (USER_HEADER, principal.subject)]
    if principal.groups:
        headers.append((GROUPS_HEADER, ",".join(principal.groups)))
    return headers
