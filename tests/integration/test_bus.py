"""The event bus against a real nats-server: delivery, dedupe, and dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import nats
import pytest

from llmops.bus import STREAMS, Bus, EventContext, ensure_streams
from llmops.errors import Unavailable
from llmops.events import DocumentDeleted
from llmops.testing import NatsServer

pytestmark = pytest.mark.integration


def deleted(document_id: str) -> DocumentDeleted:
    return DocumentDeleted(tenant="acme", document_id=document_id, version=1, deleted_by="tester")


async def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Polls a condition; bounded so a lost message fails the test instead of hanging it."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


async def stream_count(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    instance = Bus(nats_url, "tests", max_deliver=3, retry_delay_s=0.05)
    yield instance
    await instance.stop()


async def test_a_published_event_reaches_a_durable_consumer_with_its_cloudevents_headers(bus: Bus) -> None:
    """The handler gets the typed body and the CloudEvents attributes."""
    received: list[tuple[DocumentDeleted, EventContext]] = []

    async def handler(event: DocumentDeleted, ctx: EventContext) -> None:
        received.append((event, ctx))

    bus.subscribe(DocumentDeleted, handler, durable="reader")
    await bus.start()
    event = deleted("doc-1")
    await bus.publish(event)
    await wait_for(lambda: len(received) == 1)

    body, ctx = received[0]
    assert body == event
    assert ctx.id == event.event_id and ctx.type == DocumentDeleted.type and ctx.source == "tests"
    assert ctx.subject == "documents.v1.deleted" and ctx.deliveries == 1
    assert ctx.headers["ce-specversion"] == "1.0" and ctx.headers["traceparent"].startswith("00-")


async def test_publishing_the_same_event_twice_stores_it_once(bus: Bus, nats_url: str) -> None:
    """Nats-Msg-Id = ce-id, so JetStream drops the duplicate inside its window."""
    await bus.start()
    event = deleted("doc-dup")
    await bus.publish_all([event, event, event])
    await bus.publish(deleted("doc-other"))
    assert await stream_count(nats_url, "DOCUMENTS") == 2


async def test_a_malformed_event_is_dead_lettered_and_the_consumer_keeps_running(bus: Bus, nats_url: str) -> None:
    """Bad JSON goes to deadletter.<subject> at once; the next good event is still handled."""
    handled: list[str] = []

    async def handler(event: DocumentDeleted, _: EventContext) -> None:
        handled.append(event.document_id)

    bus.subscribe(DocumentDeleted, handler, durable="reader")
    await bus.start()
    headers = {"ce-id": "bad-1", "ce-type": DocumentDeleted.type, "Nats-Msg-Id": "bad-1"}
    await bus.broker.publish(b"{not json", "documents.v1.deleted", headers=headers, stream="DOCUMENTS")
    await bus.broker.publish(b"{}", "documents.v1.deleted", headers={"Nats-Msg-Id": "bad-2"}, stream="DOCUMENTS")
    await bus.publish(deleted("doc-good"))

    await wait_for(lambda: handled == ["doc-good"])
    await wait_for_async_count(nats_url, "DEADLETTER", 2)

    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe("deadletter.documents.v1.deleted", durable="inspect")
        messages = await sub.fetch(2, timeout=5)
        reasons = [m.headers["llmops-dlq-reason"] for m in messages]
        assert any(r.startswith("undecodable: missing CloudEvents headers") for r in reasons)
        assert any(r.startswith("undecodable:") and "Invalid JSON" in r for r in reasons)
        assert {m.headers["llmops-dlq-consumer"] for m in messages} == {"reader"}
    finally:
        await nc.close()


async def wait_for_async_count(url: str, stream: str, expected: int, timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while await stream_count(url, stream) < expected:
            await asyncio.sleep(0.05)
    assert await stream_count(url, stream) == expected


async def test_an_event_whose_handler_keeps_failing_is_dead_lettered_after_max_deliver(bus: Bus, nats_url: str) -> None:
    """Retried max_deliver times, then moved aside with the error, without blocking later events."""
    attempts: list[int] = []
    handled: list[str] = []

    async def handler(event: DocumentDeleted, ctx: EventContext) -> None:
        if event.document_id == "doc-poison":
            attempts.append(ctx.deliveries)
            raise RuntimeError("downstream rejected it")
        handled.append(event.document_id)

    bus.subscribe(DocumentDeleted, handler, durable="reader", batch_size=1)
    await bus.start()
    await bus.publish(deleted("doc-poison"))
    await bus.publish(deleted("doc-after"))

    await wait_for_async_count(nats_url, "DEADLETTER", 1)
    await wait_for(lambda: "doc-after" in handled)
    assert attempts == [1, 2, 3]


async def test_a_durable_consumer_resumes_after_restart_without_replaying_acked_events(nats_url: str) -> None:
    """Acked events stay acked across a restart; the durable picks up only what came after."""
    seen: list[str] = []

    async def record(event: DocumentDeleted, _: EventContext) -> None:
        seen.append(event.document_id)

    first = Bus(nats_url, "tests")
    first.subscribe(DocumentDeleted, record, durable="resumer")
    await first.start()
    await first.publish(deleted("doc-before"))
    await wait_for(lambda: seen == ["doc-before"])
    await first.stop()

    publisher = Bus(nats_url, "tests")
    await publisher.start()
    await publisher.publish(deleted("doc-while-down"))
    await publisher.stop()

    second = Bus(nats_url, "tests")
    second.subscribe(DocumentDeleted, record, durable="resumer")
    await second.start()
    await wait_for(lambda: len(seen) == 2)
    await asyncio.sleep(0.5)  # give a wrongly replayed event the chance to show up
    await second.stop()
    assert seen == ["doc-before", "doc-while-down"]


async def test_a_transient_failure_is_retried_and_then_succeeds(bus: Bus) -> None:
    """A handler that fails once sees the event again (deliveries = 2) and the event is not dead-lettered."""
    deliveries: list[int] = []

    async def flaky(event: DocumentDeleted, ctx: EventContext) -> None:
        deliveries.append(ctx.deliveries)
        if ctx.deliveries == 1:
            raise ConnectionError("qdrant briefly away")

    bus.subscribe(DocumentDeleted, flaky, durable="flaky")
    await bus.start()
    await bus.publish(deleted("doc-flaky"))
    await wait_for(lambda: deliveries == [1, 2])


async def test_publishing_while_nats_is_down_is_unavailable_not_a_crash(nats_server: NatsServer) -> None:
    """A stopped server gives a clear Unavailable the gRPC layer maps to UNAVAILABLE."""
    bus = Bus(nats_server.url, "tests", publish_timeout_s=1.0)
    await bus.start()
    nats_server.stop()
    try:
        with pytest.raises(Unavailable, match="did not store documents.v1.deleted"):
            await bus.publish(deleted("doc-lost"))
    finally:
        await bus.stop()


async def test_streams_are_created_idempotently_by_concurrent_services(nats_url: str) -> None:
    """Every service ensures the streams at start-up; doing it at once, and again, is safe."""
    await asyncio.gather(*(ensure_streams(nats_url) for _ in range(4)))
    await ensure_streams(nats_url)
    nc = await nats.connect(nats_url)
    try:
        names = {info.config.name for info in await nc.jetstream().streams_info()}
        documents = await nc.jetstream().stream_info("DOCUMENTS")
    finally:
        await nc.close()
    assert names == {spec.name for spec in STREAMS}
    assert documents.config.duplicate_window == 120.0 and documents.config.subjects == ["documents.>"]


async def test_a_handler_publishes_follow_up_events_in_the_name_of_the_actor_that_caused_the_first(bus: Bus) -> None:
    """ce-authid travels from an event to the events its handler publishes, and does not leak to the next one."""
    from llmops.auth import Principal
    from llmops.security.context import Authenticated, reset_authentication, set_authentication

    seen: dict[str, str] = {}

    async def relay(event: DocumentDeleted, ctx: EventContext) -> None:
        if event.document_id.startswith("first"):
            await bus.publish(deleted("second-" + event.document_id))

    async def record(event: DocumentDeleted, ctx: EventContext) -> None:
        seen[event.document_id] = ctx.headers["ce-authid"]

    bus.subscribe(DocumentDeleted, relay, durable="relay")
    bus.subscribe(DocumentDeleted, record, durable="record")
    await bus.start()
    alice = Principal(tenant="acme", subject="alice")
    token = set_authentication(Authenticated(principal=alice, caller=alice))
    try:
        await bus.publish(deleted("first"))
    finally:
        reset_authentication(token)
    await wait_for(lambda: "second-first" in seen)
    await bus.publish(deleted("third"))
    await wait_for(lambda: "third" in seen)
    assert seen == {"first": "acme/alice", "second-first": "acme/alice", "third": "tests"}
