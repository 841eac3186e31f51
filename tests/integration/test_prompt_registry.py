"""The prompt registry on a real nats-server: KV versions and labels, events, live catalog, concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import nats
import pytest

from llmops.auth import Principal
from llmops.bus import Bus, EventContext
from llmops.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from llmops.events import PromptChange, PromptChanged
from llmops.prompts.builtin import RAG_PROMPT
from llmops.prompts.core import PRODUCTION, SHARED_TENANT, Variable
from llmops.prompts.store import BUCKET, PromptCatalog, PromptStore, open_prompt_store
from services.inference.prompts import Draft, PromptRegistry

pytestmark = pytest.mark.integration

ANA = Principal(tenant="acme", subject="ana")
BOB = Principal(tenant="globex", subject="bob")


async def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    instance = Bus(nats_url, "tests")
    yield instance
    await instance.stop()


def open_store(bus: Bus) -> PromptStore:
    return open_prompt_store(bus)


def draft(template: str = "Summarise {{text}}", **kw: object) -> Draft:
    return Draft(name="summary", template=template, variables=[Variable(name="text")], **kw)  # type: ignore[arg-type]


async def test_versions_labels_rollback_and_split_are_stored_and_published(bus: Bus) -> None:
    changes: list[PromptChanged] = []

    async def on_change(event: PromptChanged, ctx: EventContext) -> None:
        changes.append(event)

    bus.subscribe(PromptChanged, on_change, durable="prompt-watcher")
    await bus.start()
    registry = PromptRegistry(open_store(bus), bus)

    v1, _ = await registry.create(ANA, draft(labels=[PRODUCTION]))
    v2, head = await registry.create(ANA, draft("Summarise in one line: {{text}}", labels=["staging"]))
    assert (v1.version, v2.version) == (1, 2)
    assert head.label_version(PRODUCTION) == 1 and head.label_version("staging") == 2

    promoted, head = await registry.set_label(ANA, "summary", PRODUCTION, 2, reason="better on the golden set")
    assert promoted.version == 2 and head.labels_of(2) == [PRODUCTION, "staging"]
    back, head = await registry.rollback(ANA, "summary", PRODUCTION, reason="complaints")
    assert back.version == 1 and head.label_version(PRODUCTION) == 1

    head = await registry.set_split(ANA, "summary", {PRODUCTION: 9, "staging": 1})
    assert head.split == {PRODUCTION: 0.9, "staging": 0.1}

    versions, _ = await registry.versions(ANA, "summary")
    assert [v.template for v in versions] == ["Summarise {{text}}", "Summarise in one line: {{text}}"]
    assert versions[0].created_by == "ana"

    await wait_for(lambda: len(changes) == 7)
    assert [(c.change, c.version, c.label, c.previous_version) for c in changes] == [
        (PromptChange.CREATED, 1, "", None),
        (PromptChange.LABEL_MOVED, 1, PRODUCTION, None),
        (PromptChange.CREATED, 2, "", None),
        (PromptChange.LABEL_MOVED, 2, "staging", None),
        (PromptChange.LABEL_MOVED, 2, PRODUCTION, 1),
        (PromptChange.ROLLED_BACK, 1, PRODUCTION, 2),
        (PromptChange.SPLIT_CHANGED, 0, "", None),
    ]
    assert changes[5].reason == "complaints" and changes[6].split == {PRODUCTION: 0.9, "staging": 0.1}
    assert all(c.tenant == "acme" and c.changed_by == "ana" for c in changes)


async def test_bad_requests_name_the_problem_and_write_nothing(bus: Bus) -> None:
    await bus.start()
    store = open_store(bus)
    registry = PromptRegistry(store, bus)
    with pytest.raises(InvalidArgument, match="undeclared variables"):
        await registry.create(ANA, Draft(name="summary", template="{{text}}"))
    with pytest.raises(InvalidArgument, match="labels"):
        await registry.create(ANA, draft(labels=["Not A Label"]))
    assert await store.names("acme") == []
    await registry.create(ANA, draft())
    with pytest.raises(NotFound, match="no version 5"):
        await registry.set_label(ANA, "summary", PRODUCTION, 5)
    with pytest.raises(InvalidArgument, match="reason is empty"):
        await registry.rollback(ANA, "summary", PRODUCTION, reason=" ")
    with pytest.raises(NotFound, match="no label 'production'"):
        await registry.rollback(ANA, "summary", PRODUCTION, reason="bad")
    with pytest.raises(FailedPrecondition, match="no label 'staging'"):
        await registry.set_split(ANA, "summary", {"staging": 1})


async def test_concurrent_writers_get_distinct_versions_and_lose_no_label_move(bus: Bus) -> None:
    await bus.start()
    registries = [PromptRegistry(open_store(bus), bus) for _ in range(4)]  # four "replicas"
    created = await asyncio.gather(
        *(registries[i % 4].create(ANA, draft(f"Version {i}: {{{{text}}}}")) for i in range(12))
    )
    assert sorted(v.version for v, _ in created) == list(range(1, 13))
    await asyncio.gather(*(registries[i % 4].set_label(ANA, "summary", f"l{i}", i + 1) for i in range(12)))
    head = await registries[0].store.head("acme", "summary")
    assert head.latest == 12
    assert {label: head.label_version(label) for label in head.labels} == {f"l{i}": i + 1 for i in range(12)}


async def test_the_catalog_follows_changes_without_restart_and_isolates_tenants(bus: Bus) -> None:
    await bus.start()
    store = open_store(bus)
    registry = PromptRegistry(store, bus)
    await asyncio.gather(registry.seed_builtins(), PromptRegistry(open_store(bus), bus).seed_builtins())
    await registry.seed_builtins()  # every replica seeds at start: still one version
    shared = await store.head(SHARED_TENANT, RAG_PROMPT)
    assert shared.latest == 1 and shared.label_version(PRODUCTION) == 1

    catalog = PromptCatalog(open_store(bus))
    await catalog.start()
    try:
        found, via = await catalog.resolve("acme", RAG_PROMPT)
        assert (found.tenant, found.version, via) == (SHARED_TENANT, 1, PRODUCTION)

        await registry.create(ANA, draft(labels=[PRODUCTION]))
        await registry.create(ANA, draft("Shorter: {{text}}"))
        await wait_for(lambda: ("acme", "summary") in catalog.heads)
        assert (await catalog.resolve("acme", "summary"))[0].version == 1

        await registry.set_label(ANA, "summary", PRODUCTION, 2)
        await wait_for(lambda: catalog.heads["acme", "summary"].label_version(PRODUCTION) == 2)
        assert (await catalog.resolve("acme", "summary"))[0].template == "Shorter: {{text}}"

        with pytest.raises(NotFound, match="no prompt named 'summary'"):
            await catalog.resolve("globex", "summary")
        with pytest.raises(NotFound):
            await PromptRegistry(store, bus).get(BOB, "summary")
        assert [h.name for h in await registry.prompts(BOB)] == [RAG_PROMPT]
        assert [(h.tenant, h.name) for h in await registry.prompts(ANA)] == [
            (SHARED_TENANT, RAG_PROMPT),
            ("acme", "summary"),
        ]
    finally:
        await catalog.stop()


async def test_a_crash_between_version_and_head_leaves_a_gap_the_next_create_skips(nats_url: str, bus: Bus) -> None:
    await bus.start()
    store = open_store(bus)
    registry = PromptRegistry(store, bus)
    await registry.create(ANA, draft())
    # The crash: version 2 written, head never advanced.
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(BUCKET)
        v1 = (await kv.get("acme.summary.v1")).value or b""
        await kv.create("acme.summary.v2", v1.replace(b'"version":1', b'"version":2'))
    finally:
        await nc.close()
    v3, head = await registry.create(ANA, draft("Third {{text}}"))
    assert v3.version == 3 and head.latest == 3


async def test_an_unlabelled_override_leaves_the_builtin_serving_and_the_shared_namespace_is_read_only(
    bus: Bus,
) -> None:
    await bus.start()
    store = open_store(bus)
    registry = PromptRegistry(store, bus)
    await registry.seed_builtins()
    catalog = PromptCatalog(open_store(bus))
    await catalog.start()
    try:
        override = Draft(
            name=RAG_PROMPT,
            template="Q: {{question}}\n{{sources}}",
            variables=[Variable(name="sources"), Variable(name="question")],
        )
        await registry.create(ANA, override)
        await wait_for(lambda: ("acme", RAG_PROMPT) in catalog.heads)
        assert (await catalog.resolve("acme", RAG_PROMPT))[0].tenant == SHARED_TENANT  # no production label yet
        await registry.set_label(ANA, RAG_PROMPT, PRODUCTION, 1)
        await wait_for(lambda: catalog.heads["acme", RAG_PROMPT].label_version(PRODUCTION) == 1)
        assert (await catalog.resolve("acme", RAG_PROMPT))[0].tenant == "acme"
    finally:
        await catalog.stop()
    platform = Principal(tenant=SHARED_TENANT, subject="mallory")
    with pytest.raises(PermissionDenied, match="reserved for the platform"):
        await registry.set_label(platform, RAG_PROMPT, PRODUCTION, 1)
    with pytest.raises(PermissionDenied):
        await registry.create(platform, draft())
