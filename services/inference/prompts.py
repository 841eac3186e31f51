"""The prompt registry's use cases: create, label, roll back, split; each change is published as an event.

Writes go to the caller's tenant namespace. Reads see the tenant's own prompt of a name, else the platform's
shared built-in. The hot path (rendering for generation) reads from the PromptCatalog, which follows the bucket
through a watch; these admin reads go to the store, so they see a write at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from llmops.auth import Principal
from llmops.errors import InvalidArgument, NotFound
from llmops.events import PromptChange, PromptChanged, utcnow
from llmops.prompts.builtin import builtin_prompts, seeded_head
from llmops.prompts.core import (
    PRODUCTION,
    SHARED_TENANT,
    ModelParameters,
    PromptHead,
    PromptVersion,
    Variable,
    caller_tenant,
    move_label,
    new_version,
    resolve_version,
    roll_back,
    set_split,
    validate_name,
)
from llmops.prompts.store import PromptStore


class Publisher(Protocol):
    """Where change events go (the bus)."""

    async def publish(self, event: PromptChanged) -> None: ...


@dataclass(frozen=True)
class Draft:
    """What a caller sends to create a version."""

    name: str
    template: str
    system: str = ""
    variables: Sequence[Variable] = ()
    parameters: ModelParameters | None = None
    model: str = ""
    description: str = ""
    labels: Sequence[str] = ()


class PromotionGate(Protocol):
    """Decides whether a version may take the production label (its evaluation against production's)."""

    async def check(self, principal: Principal, name: str, candidate: int, production: int) -> None:
        """Returns when the move is allowed; raises FailedPrecondition saying which metric failed, or Unavailable."""
        ...


class PromptRegistry:
    """Versioned, labelled prompts per tenant."""

    def __init__(
        self,
        store: PromptStore,
        bus: Publisher,
        clock: Callable[[], datetime] = utcnow,
        models: Collection[str] = (),
        gate: PromotionGate | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.models = models
        """Configured model names a version may pin; empty = not checked."""
        self.gate = gate
        """Consulted before `production` moves to another version (not on rollback: going back is always allowed)."""

    async def seed_builtins(self) -> None:
        """Puts the built-in prompts in the shared namespace (idempotent; every replica runs it at start)."""
        for version in builtin_prompts(self.clock()):
            await self.store.seed(version, seeded_head)

    async def create(self, principal: Principal, draft: Draft) -> tuple[PromptVersion, PromptHead]:
        """A new immutable version in the caller's namespace, with the labels asked for moved to it."""
        tenant = caller_tenant(principal.tenant)
        validate_name(draft.name, "name")
        for label in draft.labels:
            validate_name(label, "labels[]")
        if draft.model and self.models and draft.model not in self.models:
            raise InvalidArgument(f"model {draft.model!r} is not configured; choose one of {sorted(self.models)}")
        now = self.clock()

        def build(number: int) -> PromptVersion:
            return new_version(
                tenant=tenant,
                name=draft.name,
                version=number,
                template=draft.template,
                system=draft.system,
                variables=draft.variables,
                parameters=draft.parameters,
                model=draft.model,
                description=draft.description,
                created_by=principal.subject,
                created_at=now,
            )

        build(1)  # validates before anything is written
        version = await self.store.create_version(tenant, draft.name, build)
        await self._publish(principal, PromptChange.CREATED, version.name, version.version)
        for label in draft.labels:
            await self.set_label(principal, draft.name, label, version.version, reason="set at creation")
        head = await self.store.head(tenant, draft.name)
        return version, head

    async def get(
        self, principal: Principal, name: str, label: str = "", version: int = 0
    ) -> tuple[PromptVersion, PromptHead]:
        """A version by number, or by label (`production` when neither is given)."""
        head = await self._visible_head(principal, validate_name(name, "name"))
        number, _ = resolve_version(head, label=label, version=version)
        return await self.store.version(head.tenant, name, number), head

    async def versions(self, principal: Principal, name: str) -> tuple[list[PromptVersion], PromptHead]:
        """Every version of a prompt, oldest first."""
        head = await self._visible_head(principal, validate_name(name, "name"))
        return await self.store.versions(head.tenant, name), head

    async def prompts(self, principal: Principal) -> list[PromptHead]:
        """The caller's prompts and the shared built-ins it has not overridden, by name."""
        tenant = caller_tenant(principal.tenant)
        own = {name: await self.store.head(tenant, name) for name in await self.store.names(tenant)}
        for name in await self.store.names(SHARED_TENANT):
            if name not in own:
                own[name] = await self.store.head(SHARED_TENANT, name)
        return [own[name] for name in sorted(own)]

    async def set_label(
        self, principal: Principal, name: str, label: str, version: int, reason: str = ""
    ) -> tuple[PromptVersion, PromptHead]:
        """Moves `label` to `version` atomically; readers see the old or the new version, never neither."""
        tenant = caller_tenant(principal.tenant)
        validate_name(name, "name")
        if version <= 0:
            raise InvalidArgument("version must be positive; list versions with `llmops prompts versions NAME`")
        target = await self.store.version(tenant, name, version)
        if label == PRODUCTION and self.gate is not None:
            current = (await self.store.head(tenant, name)).label_version(PRODUCTION) or 0
            if current != version:
                # Checked before the compare-and-set: a concurrent promotion in between is itself gated.
                await self.gate.check(principal, name, version, current)

        def change(head: PromptHead) -> tuple[PromptHead, tuple[PromptHead, int | None]]:
            updated, previous = move_label(head, label, version)
            return updated, (updated, previous)

        head, previous = await self.store.update_head(tenant, name, change)
        if previous != version:
            await self._publish(principal, PromptChange.LABEL_MOVED, name, version, label, previous, reason=reason)
        return target, head

    async def rollback(
        self, principal: Principal, name: str, label: str, reason: str
    ) -> tuple[PromptVersion, PromptHead]:
        """Moves `label` back to the version it pointed at before."""
        tenant = caller_tenant(principal.tenant)
        validate_name(name, "name")
        if not reason.strip():
            raise InvalidArgument("reason is empty; say why the label rolls back (it is audited)")

        def change(head: PromptHead) -> tuple[PromptHead, tuple[PromptHead, int, int]]:
            updated, rolled_from, rolled_to = roll_back(head, label)
            return updated, (updated, rolled_from, rolled_to)

        head, rolled_from, rolled_to = await self.store.update_head(tenant, name, change)
        await self._publish(principal, PromptChange.ROLLED_BACK, name, rolled_to, label, rolled_from, reason=reason)
        return await self.store.version(tenant, name, rolled_to), head

    async def set_split(
        self, principal: Principal, name: str, weights: Mapping[str, float], reason: str = ""
    ) -> PromptHead:
        """Sends each label its share of users; an empty mapping sends everyone to `production`."""
        tenant = caller_tenant(principal.tenant)
        validate_name(name, "name")

        def change(head: PromptHead) -> tuple[PromptHead, tuple[PromptHead, bool]]:
            updated = set_split(head, weights)
            return updated, (updated, updated.split != head.split)

        head, changed = await self.store.update_head(tenant, name, change)
        if changed:
            await self._publish(principal, PromptChange.SPLIT_CHANGED, name, 0, split=head.split, reason=reason)
        return head

    async def _visible_head(self, principal: Principal, name: str) -> PromptHead:
        tenant = caller_tenant(principal.tenant)
        try:
            head = await self.store.head(tenant, name)
        except NotFound:
            head = await self.store.head(SHARED_TENANT, name)
        return head

    async def _publish(
        self,
        principal: Principal,
        change: PromptChange,
        name: str,
        version: int,
        label: str = "",
        previous: int | None = None,
        *,
        split: Mapping[str, float] | None = None,
        reason: str = "",
    ) -> None:
        await self.bus.publish(
            PromptChanged(
                tenant=principal.tenant,
                change_id=str(uuid.uuid4()),
                change=change,
                name=name,
                version=version,
                label=label,
                previous_version=previous,
                split=dict(split or {}),
                changed_by=principal.subject,
                reason=reason.strip(),
            )
        )
