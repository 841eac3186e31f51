"""The caller's principal, read from gRPC metadata.

Embedded mode trusts the `x-llmops-*` headers (no credentials yet); the security issue replaces this with API
keys and JWT. Services take the principal only from here, so that change lands in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from llmops.errors import InvalidArgument
from llmops.events import Classification

TENANT_HEADER = "x-llmops-tenant"
USER_HEADER = "x-llmops-user"
GROUPS_HEADER = "x-llmops-groups"
CLEARANCE_HEADER = "x-llmops-clearance"
AUTHORIZATION_HEADER = "authorization"
API_KEY_HEADER = "x-api-key"
CREDENTIAL_HEADERS = frozenset({AUTHORIZATION_HEADER, API_KEY_HEADER})


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
    # Only the principal's own headers are read: binary (`-bin`) or other metadata may be any bytes.
    wanted = {TENANT_HEADER, USER_HEADER, GROUPS_HEADER, CLEARANCE_HEADER}
    values = {
        k.lower(): v.decode(errors="replace") if isinstance(v, bytes) else v
        for k, v in (metadata or ())
        if k.lower() in wanted
    }
    groups = tuple(g.strip() for g in values.get(GROUPS_HEADER, "").split(",") if g.strip())
    clearance_value = values.get(CLEARANCE_HEADER, "").strip().lower() or Classification.INTERNAL.value
    try:
        clearance = Classification(clearance_value)
    except ValueError:
        choices = ", ".join(c.value for c in Classification)
        raise InvalidArgument(f"{CLEARANCE_HEADER} is {clearance_value!r}; use one of {choices}") from None
    return Principal(
        tenant=values.get(TENANT_HEADER, "").strip() or default_tenant,
        subject=values.get(USER_HEADER, "").strip() or "anonymous",
        groups=groups,
        clearance=clearance,
    )


def principal_metadata(principal: Principal) -> list[tuple[str, str]]:
    """Metadata that carries a principal to a downstream call."""
    headers = [(TENANT_HEADER, principal.tenant), (USER_HEADER, principal.subject)]
    if principal.groups:
        headers.append((GROUPS_HEADER, ",".join(principal.groups)))
    headers.append((CLEARANCE_HEADER, principal.clearance.value))
    return headers


@dataclass(frozen=True)
class AccessScope:
    """What a principal may read: its tenant, classifications up to its clearance, and its groups."""

    tenant: str
    classifications: tuple[str, ...]
    groups: tuple[str, ...]

    @classmethod
    def of(cls, principal: Principal) -> AccessScope:
        """The scope of a principal: same tenant, clearance ≥ classification, group overlap (or no groups set)."""
        visible = tuple(c.value for c in Classification if c.rank <= principal.clearance.rank)
        return cls(tenant=principal.tenant, classifications=visible, groups=principal.groups)
