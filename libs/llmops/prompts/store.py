"""The prompt registry on a NATS key-value bucket: writes with compare-and-set, reads from a live watch.

Keys: `<tenant>.<name>.head` holds the PromptHead (latest version, labels, split) and changes only through
compare-and-set on its revision, so concurrent label moves never lose one; `<tenant>.<name>.v<N>` holds
version N and is written once with `create`, which fails if it exists, so two writers never share a number.
A crash between writing a version and updating the head leaves a valid version the next create skips past.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
from nats.js.api import StorageType
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from llmops.bus import Bus
from llmops.errors import FailedPrecondition, NotFound
from llmops.kv import KeyMissing, Lazy, TooManyWriters, compare_and_set, read_json
from llmops.logging import get_logger
from llmops.prompts.core import SHARED_TENANT, PromptHead, PromptVersion, resolve_version

log = get_logger(__name__)

BUCKET = "prompts"
"""The key-value bucket of the registry; its history keeps earlier heads for forensic reads."""
HISTORY = 16
MAX_CAS_ATTEMPTS = 20
T = TypeVar("T")


def head_key(tenant: str, name: str) -> str:
    return f"{tenant}.{name}.head"


def version_key(tenant: str, name: str, version: int) -> str:
    return f"{tenant}.{name}.v{version}"


class PromptStore:
    """Reads and writes prompts in the bucket; every write is atomic on its own key."""

    def __init__(self, open_bucket: Callable[[], Awaitable[KeyValue]]) -> None:
        self.bucket = Lazy(open_bucket)
        """The bucket, opened (and created if missing) on first use."""

    async def head(self, tenant: str, name: str) -> PromptHead:
        """The head, or NotFound."""
        found = await read_json(await self.bucket(), head_key(tenant, name), PromptHead)
        if found is None:
            raise NotFound(f"no prompt named {name!r}")
        return found[0]

    async def version(self, tenant: str, name: str, version: int) -> PromptVersion:
        """One version, or NotFound."""
        found = await read_json(await self.bucket(), version_key(tenant, name, version), PromptVersion)
        if found is None:
            raise NotFound(f"prompt {name!r} has no version {version}")
        return found[0]

    async def versions(self, tenant: str, name: str) -> list[PromptVersion]:
        """Every version of a prompt, oldest first."""
        head = await self.head(tenant, name)
        found = await asyncio.gather(
            *(self._maybe_version(tenant, name, n) for n in range(1, head.latest + 1)), return_exceptions=False
        )
        return [v for v in found if v is not None]

    async def _maybe_version(self, tenant: str, name: str, version: int) -> PromptVersion | None:
        with contextlib.suppress(NotFound):
            return await self.version(tenant, name, version)
        return None

    async def names(self, tenant: str) -> list[str]:
        """The tenant's prompt names, sorted."""
        # A watch on the subject pattern: KeyValue.keys() filters by substring, which would mix tenants.
        watcher = await (await self.bucket()).watch(head_key(tenant, "*"), ignore_deletes=True, meta_only=True)
        names: list[str] = []
        try:
            async for entry in watcher:
                if entry is None:
                    break
                names.append(entry.key.split(".")[1])
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return sorted(names)

    async def create_version(self, tenant: str, name: str, build: Callable[[int], PromptVersion]) -> PromptVersion:
        """Writes the next version (numbered from the head) and advances the head's `latest`."""
        try:
            number = (await self.head(tenant, name)).latest + 1
        except NotFound:
            number = 1
        for _ in range(MAX_CAS_ATTEMPTS):
            version = build(number)
            try:
                await (await self.bucket()).create(
                    version_key(tenant, name, number), version.model_dump_json().encode()
                )
                break
            except KeyWrongLastSequenceError:
                number += 1  # another writer (or a crash before its head update) took this number
        else:
            raise FailedPrecondition(f"prompt {name!r} is being changed by many writers at once; retry")

        def advance(current: PromptHead) -> tuple[PromptHead, None]:
            return current.model_copy(update={"latest": max(current.latest, number)}), None

        await self.update_head(tenant, name, advance, create=True)
        return version

    async def seed(self, version: PromptVersion, seeded: Callable[[PromptHead], PromptHead]) -> bool:
        """Writes `version` if its number is free, then applies `seeded` to the head; True if it wrote.

        Safe to run from every replica at every start: the version is created once and the head only gains.
        """
        try:
            await (await self.bucket()).create(
                version_key(version.tenant, version.name, version.version), version.model_dump_json().encode()
            )
            wrote = True
        except KeyWrongLastSequenceError:
            wrote = False
        await self.update_head(version.tenant, version.name, lambda head: (seeded(head), None), create=True)
        return wrote

    async def update_head(
        self,
        tenant: str,
        name: str,
        change: Callable[[PromptHead], tuple[PromptHead, T]],
        *,
        create: bool = False,
    ) -> T:
        """Applies `change` with compare-and-set, re-reading and re-applying on a concurrent write."""
        try:
            return await compare_and_set(
                await self.bucket(),
                head_key(tenant, name),
                PromptHead,
                change,
                missing=(lambda: PromptHead(tenant=tenant, name=name)) if create else None,
                attempts=MAX_CAS_ATTEMPTS,
            )
        except KeyMissing:
            raise NotFound(f"no prompt named {name!r}") from None
        except TooManyWriters:
            raise FailedPrecondition(f"prompt {name!r} is being changed by many writers at once; retry") from None


class PromptCatalog:
    """Every prompt head and used version, kept current by a watch on the bucket (no restart on change).

    Resolution looks at the caller's tenant first, then the shared built-ins. Versions are immutable, so each
    is read once and kept.
    """

    def __init__(self, store: PromptStore) -> None:
        self.store = store
        self.heads: dict[tuple[str, str], PromptHead] = {}
        self._versions: dict[tuple[str, str, int], PromptVersion] = {}
        self._task: asyncio.Task[None] | None = None
        self._watcher: KeyValue.KeyWatcher | None = None

    async def start(self) -> None:
        """Loads every head, then follows changes in the background."""
        watcher = self._watcher = await (await self.store.bucket()).watch("*.*.head")
        loaded = asyncio.get_running_loop().create_future()

        async def follow() -> None:
            async for entry in watcher:
                if entry is None:  # the watcher's marker: every existing value has been delivered
                    if not loaded.done():
                        loaded.set_result(None)
                    continue
                self._apply(entry.key, entry.value, entry.operation)
            if not loaded.done():  # pragma: no cover - the watcher ended before its initial values
                loaded.set_result(None)

        self._task = asyncio.create_task(follow(), name="prompt-catalog-watch")
        await loaded

    def _apply(self, key: str, value: bytes | None, operation: str | None) -> None:
        tenant, name, _ = key.split(".", 2)
        if operation in ("DEL", "PURGE") or not value:
            self.heads.pop((tenant, name), None)
            return
        try:
            head = PromptHead.model_validate_json(value)
        except ValueError:
            log.warning("ignored an unreadable prompt head", key=key)
            return
        self.heads[(tenant, name)] = head

    async def stop(self) -> None:
        """Stops following changes."""
        if self._watcher is not None:
            # The connection may already be closed (the bus stops first); the watch ended with it.
            with contextlib.suppress(nats.errors.Error):
                await self._watcher.stop()  # type: ignore[no-untyped-call]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def head(self, tenant: str, name: str) -> PromptHead:
        """The tenant's own head for `name`, else the shared one, else NotFound."""
        head = self.heads.get((tenant, name)) or self.heads.get((SHARED_TENANT, name))
        if head is None:
            raise NotFound(f"no prompt named {name!r}; create it with `llmops prompts create {name}`")
        return head

    async def resolve(
        self, tenant: str, name: str, *, label: str = "", version: int = 0, user: str = ""
    ) -> tuple[PromptVersion, str]:
        """The version a request gets, and the label it came through ('' for an explicit version).

        A tenant's own prompt serves once it has the label asked for; until then the shared built-in does, so
        creating an unlabelled override never takes a tenant's answers down.
        """
        head = self.head(tenant, name)
        try:
            number, via = resolve_version(head, label=label, version=version, user=user)
        except NotFound:
            shared = self.heads.get((SHARED_TENANT, name))
            if version or shared is None or shared is head:
                raise
            head = shared
            number, via = resolve_version(head, label=label, user=user)
        return await self.version(head.tenant, name, number), via

    async def version(self, tenant: str, name: str, number: int) -> PromptVersion:
        """One version, read once then kept."""
        key = (tenant, name, number)
        if key not in self._versions:
            self._versions[key] = await self.store.version(tenant, name, number)
        return self._versions[key]


def open_prompt_store(bus: Bus, replicas: int = 1) -> PromptStore:
    """The registry's store on the bus's NATS connection (the bucket is created on first use)."""
    return PromptStore(
        lambda: bus.broker.key_value(BUCKET, history=HISTORY, replicas=replicas, storage=StorageType.FILE)
    )
