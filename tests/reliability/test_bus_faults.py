"""Fault injection on the event bus against a real nats-server: durability settings, dedupe under load, SIGKILL
mid-flood, and poison messages among good ones on one durable consumer.

Every wait is bounded (a deadline or `asyncio.timeout`), so a lost message fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import random
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from subprocess import PIPE, STDOUT

import nats
import nats.errors
import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StorageType
from nats.js.client import JetStreamContext

from llmops.bus import (
    DEAD_LETTER_PREFIX,
    DUPLICATE_WINDOW_S,
    STREAMS,
    Bus,
    EventContext,
    cloudevent_headers,
    stream_for,
)
from llmops.errors import PoisonMessage, Unavailable
from llmops.events import DocumentDeleted
from llmops.testing.servers import NatsServer, nats_server_binary

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

SUBJECT = DocumentDeleted.subject
STREAM = stream_for(SUBJECT)
SOURCE = "tests/reliability"
RESEND_WINDOW_S = 60.0
"""How long after a first attempt a publisher may re-send the same event (a retried RPC); dedupe must cover it."""


def deleted(document_id: str) -> DocumentDeleted:
    """A fresh event; re-creating it from the same id gives a new body (occurred_at) but the same event id."""
    return DocumentDeleted(tenant="acme", document_id=document_id, version=1, deleted_by="tester")


async def eventually(check: Callable[[], bool | Awaitable[bool]], what: str, timeout_s: float = 30.0) -> None:
    """Polls `check` until it holds; fails with `what` after `timeout_s` instead of hanging."""
    # A deadline, not asyncio.timeout alone: nats.py swallows CancelledError in places, which would lose the cancel.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout_s}s")


@contextlib.asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    """A short-lived inspection connection, separate from the bus under test."""
    nc = await nats.connect(url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def stored_count(js: JetStreamContext, subject: str) -> int:
    """Messages the stream holds on exactly this subject (stream info filtered by subject)."""
    info = await js.stream_info(stream_for(subject), subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def read_all(js: JetStreamContext, subject: str, durable: str, timeout_s: float = 60.0) -> list[Msg]:
    """Every message the stream holds on `subject`, read through a fresh no-ack consumer."""
    expected = await stored_count(js, subject)
    # AckPolicy.NONE: nothing to acknowledge, so max_ack_pending cannot stop the read part-way.
    sub = await js.pull_subscribe(subject, durable=durable, config=ConsumerConfig(ack_policy=AckPolicy.NONE))
    messages: list[Msg] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            with contextlib.suppress(nats.errors.TimeoutError):
                messages.extend(await sub.fetch(1000, timeout=2))
    finally:
        await sub.unsubscribe()
    assert len(messages) == expected, f"read {len(messages)} of {expected} messages on {subject}"
    return messages


async def drained(url: str, durable: str) -> bool:
    """True when the durable consumer has nothing left to deliver and nothing awaiting an ack."""
    async with jetstream(url) as js:
        info = await js.consumer_info(STREAM, durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


def jetstream_sync_interval(config: str) -> str | None:
    """The `sync_interval` (or its alias `sync`) set inside a nats-server config's `jetstream` block, else None."""
    text = re.sub(r"(?m)(^|\s)(#|//).*$", "", config)  # comments; a commented-out setting does not count
    start = re.search(r"\bjetstream\s*[:=]?\s*\{", text)
    if start is None:
        return None
    depth, end = 1, start.end()
    while depth and end < len(text):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        end += 1
    found = re.search(r'(?m)^\s*(?:sync_interval|sync)\s*[:=]?\s*"?([^"\s,}]+)', text[start.end() : end])
    return found.group(1) if found else None


def nats_log(server: NatsServer) -> str:
    """What the server has logged so far."""
    return (server.store_dir / "nats.log").read_text()


async def config_digest(config_path: Path) -> str:
    """The digest nats-server itself computes for a config file (`-t` parses it without starting a server)."""
    check = await asyncio.create_subprocess_exec(
        nats_server_binary(), "-c", str(config_path), "-t", stdout=PIPE, stderr=STDOUT
    )
    async with asyncio.timeout(30):
        output, _ = await check.communicate()
    found = re.search(rb"is valid \((sha256:[0-9a-f]{64})\)", output)
    assert check.returncode == 0 and found is not None, output.decode()
    return found.group(1).decode()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('jetstream {\n  store_dir: "/x"\n  sync_interval: always\n}\n', "always"),
        ('jetstream: {\n  sync_interval = "always"\n}\n', "always"),
        ('jetstream {\n  sync_interval: "2m"\n}\n', "2m"),
        ("jetstream {\n  # sync_interval: always\n}\n", None),
        ('jetstream {\n  store_dir: "/x"\n}\n', None),
        ("sync_interval: always\n", None),
    ],
)
def test_the_sync_interval_check_tells_always_from_anything_else(config: str, expected: str | None) -> None:
    """The durability check below is not vacuous: a periodic, missing or commented-out setting is not `always`."""
    assert jetstream_sync_interval(config) == expected


async def test_platform_streams_are_file_backed_on_a_server_that_fsyncs_every_write(nats_server: NatsServer) -> None:
    """The running server loaded a config (the digest it logged equals what `nats-server -t` computes for the file
    now) whose jetstream block says
    `sync_interval: always`, and all 7 STREAMS that Bus.start declares are file storage, on disk under the
    store dir, with a 120 s duplicate window covering the 60 s resend window."""
    config_path = nats_server.store_dir / "nats.conf"
    config = config_path.read_text()
    loaded = re.search(r"Using configuration file: (\S+) \((sha256:[0-9a-f]{64})\)", nats_log(nats_server))
    assert loaded is not None, "nats-server did not log the configuration file it loaded"
    # NatsServer opens no monitoring port for /varz; the digest ties the file read here to what the process parsed.
    assert Path(loaded.group(1)) == config_path
    assert loaded.group(2) == await config_digest(config_path), "the config changed after the server loaded it"
    assert jetstream_sync_interval(config) == "always"

    bus = Bus(nats_server.url, SOURCE)
    await bus.start()
    await bus.stop()
    async with jetstream(nats_server.url) as js:
        infos = {spec.name: await js.stream_info(spec.name) for spec in STREAMS}

    assert len(infos) == 7
    assert DUPLICATE_WINDOW_S >= RESEND_WINDOW_S
    for name, info in infos.items():
        assert info.config.storage == StorageType.FILE, name
        assert info.config.duplicate_window == DUPLICATE_WINDOW_S, name
        assert (nats_server.store_dir / "js" / "jetstream" / "$G" / "streams" / name).is_dir(), name


async def test_ten_thousand_events_with_a_tenth_resent_are_stored_and_delivered_exactly_once(nats_url: str) -> None:
    """10,000 events plus 1,000 random re-sends (same id, new body) published concurrently in batches of 500:
    the stream holds exactly 10,000 messages on the subject and a durable consumer gets 10,000 deliveries of
    10,000 distinct ids."""
    total, batch = 10_000, 500
    rng = random.Random(10_000)
    events = [deleted(f"doc-{n:05d}") for n in range(total)]
    # Each re-send goes out with the batch after its original's, racing other publishes, as a retried RPC would.
    resends: defaultdict[int, list[DocumentDeleted]] = defaultdict(list)
    for n in rng.sample(range(total), total // 10):
        resends[n // batch + 1].append(deleted(events[n].document_id))

    publisher = Bus(nats_url, SOURCE)
    await publisher.start()
    started = time.monotonic()
    try:
        for b in range(total // batch + 1):
            await publisher.publish_all([*events[b * batch : (b + 1) * batch], *resends[b]])
    finally:
        await publisher.stop()
    # The premise of the test, not a speed target: every re-send fell inside the duplicate window.
    assert time.monotonic() - started < DUPLICATE_WINDOW_S
    assert sum(len(r) for r in resends.values()) == 1_000

    async with jetstream(nats_url) as js:
        assert await stored_count(js, SUBJECT) == total
        assert (await js.stream_info(STREAM)).state.messages == total

    received: list[str] = []

    async def record(event: DocumentDeleted, ctx: EventContext) -> None:
        received.append(ctx.id)

    consumer = Bus(nats_url, SOURCE)
    consumer.subscribe(DocumentDeleted, record, durable="counter", batch_size=256)
    await consumer.start()
    try:
        await eventually(lambda: len(received) >= total, "10,000 deliveries", timeout_s=60)
        await eventually(lambda: drained(nats_url, "counter"), "consumer drained")
        async with jetstream(nats_url) as js:
            deliveries = (await js.consumer_info(STREAM, "counter")).delivered.consumer_seq
    finally:
        await consumer.stop()
    assert deliveries == total  # no redelivery either
    assert len(received) == total
    assert set(received) == {e.event_id for e in events}


class Flood:
    """Concurrent publishers sending fresh events as fast as the bus takes them, sorting ids by outcome."""

    def __init__(self, bus: Bus, workers: int = 32) -> None:
        self.bus = bus
        self.acked: set[str] = set()
        """Ids whose publish returned: JetStream sent a PubAck, so they must survive anything."""
        self.failed: dict[str, DocumentDeleted] = {}
        """Ids whose publish raised Unavailable: maybe stored, maybe not."""
        self._next = 0
        self._stopping = asyncio.Event()
        self._tasks = [asyncio.create_task(self._publish_until_stopped()) for _ in range(workers)]

    async def _publish_until_stopped(self) -> None:
        while not self._stopping.is_set():
            event = deleted(f"flood-{self._next:06d}")
            self._next += 1
            try:
                await self.bus.publish(event)
            except Unavailable:
                self.failed[event.event_id] = event
            else:
                self.acked.add(event.event_id)

    async def stop(self) -> None:
        """Lets every in-flight publish finish (each is bounded by the bus's publish timeout)."""
        self._stopping.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*self._tasks)


async def test_acknowledged_publishes_survive_a_sigkill_of_nats_server_mid_flood(tmp_path: Path) -> None:
    """nats-server is SIGKILLed once 2,000 publishes are acked, with 32 more in flight; publishing raises
    Unavailable while it is down; restarted on the same port and store, the same Bus gets 1,000 more acks. Then
    0 acked events are missing, nothing unsent appears, and re-sending the failed ones leaves each id stored once."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    bus = Bus(server.url, SOURCE, publish_timeout_s=1.0)
    try:
        await bus.start()
        flood = Flood(bus)
        try:
            await eventually(lambda: len(flood.acked) >= 2_000, "2,000 acked publishes before the kill")
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
            failed_before_restart = len(flood.failed)
            await eventually(lambda: len(flood.failed) > failed_before_restart, "Unavailable while nats is down")

            port = server.port
            server.start()  # same NatsServer: same port, same store directory
            assert server.port == port
            acked_at_restart = len(flood.acked)
            await eventually(lambda: len(flood.acked) >= acked_at_restart + 1_000, "1,000 acks after the restart")
        finally:
            await flood.stop()

        async with jetstream(server.url) as js:
            stored = Counter(m.headers["Nats-Msg-Id"] for m in await read_all(js, SUBJECT, "after-kill") if m.headers)
        assert flood.acked - stored.keys() == set(), "acknowledged events lost by the kill"
        assert stored.keys() <= flood.acked | flood.failed.keys()

        # A client retries what was Unavailable with the same id: dedupe, rebuilt from the store, drops the stored.
        await bus.publish_all(flood.failed.values())
        async with jetstream(server.url) as js:
            stored = Counter(m.headers["Nats-Msg-Id"] for m in await read_all(js, SUBJECT, "after-retry") if m.headers)
        assert stored.keys() == flood.acked | flood.failed.keys()
        assert max(stored.values()) == 1
    finally:
        await bus.stop()
        server.close()


async def test_poison_messages_are_dead_lettered_after_max_deliver_without_stalling_the_consumer(
    nats_url: str,
) -> None:
    """300 good events with 6 poison ones interleaved (bad JSON, unknown ce-type, no CloudEvents headers, a handler
    that raises PoisonMessage, two whose handler always raises) on one max_deliver=3 consumer: each of the 300 is
    handled exactly once, including the 100 published after the last poison; the 6 are on deadletter.<subject>
    with reason, consumer and deliveries (1, or 3 after retries), and nothing is left pending or unacked."""
    bus = Bus(nats_url, SOURCE, max_deliver=3, retry_delay_s=0.05)
    always_failing = {"doc-fails-a", "doc-fails-b"}
    handled: Counter[str] = Counter()
    attempts: defaultdict[str, list[int]] = defaultdict(list)

    async def handler(event: DocumentDeleted, ctx: EventContext) -> None:
        if event.document_id in always_failing:
            attempts[event.document_id].append(ctx.deliveries)
            raise RuntimeError("downstream rejects it")
        if event.document_id == "doc-refused":
            raise PoisonMessage("refused by policy")
        handled[event.document_id] += 1

    def headers_of(document_id: str, poison: str) -> dict[str, str]:
        # x-poison travels into the dead letter with the other original headers: it names the case there.
        return {**cloudevent_headers(deleted(document_id), SOURCE), "x-poison": poison}

    def body_of(document_id: str) -> bytes:
        return deleted(document_id).model_dump_json().encode()

    bad_json_headers = headers_of("doc-bad-json", "bad-json")  # content-type: application/json, as the bus sends
    poisons: dict[str, tuple[bytes, dict[str, str]]] = {
        "bad-json": (b"{not json", bad_json_headers),
        "unknown-type": (
            body_of("doc-unknown-type"),
            {**headers_of("doc-unknown-type", "unknown-type"), "ce-type": "io.llmops.nonsense.v1"},
        ),
        "no-headers": (b"{}", {"Nats-Msg-Id": "no-headers", "x-poison": "no-headers"}),
        "refused": (body_of("doc-refused"), headers_of("doc-refused", "refused")),
        **{doc: (body_of(doc), headers_of(doc, doc)) for doc in sorted(always_failing)},
    }
    expected_deliveries = {name: 3 if name in always_failing else 1 for name in poisons}
    # One poison every 30 good events from the 20th on, then 100 good ones after the last poison.
    good = [deleted(f"doc-good-{n:03d}") for n in range(300)]
    plan: list[DocumentDeleted | str] = list(good)
    for k, name in enumerate(poisons):
        plan.insert(20 + k * 31, name)
    after_last_poison = plan[-100:]
    assert all(isinstance(item, DocumentDeleted) for item in after_last_poison)

    bus.subscribe(DocumentDeleted, handler, durable="mixed", batch_size=16)
    await bus.start()
    try:
        for item in plan:  # one at a time, so the poison sits between good events in the stream
            if isinstance(item, DocumentDeleted):
                await bus.publish(item)
            else:
                body, headers = poisons[item]
                await bus.broker.publish(body, SUBJECT, headers=headers, stream=STREAM)

        dead_subject = f"{DEAD_LETTER_PREFIX}.{SUBJECT}"

        async def all_dead_lettered() -> bool:
            async with jetstream(nats_url) as js:
                return await stored_count(js, dead_subject) >= len(poisons)

        await eventually(lambda: len(handled) >= len(good), "300 good events handled")
        await eventually(all_dead_lettered, "6 poison events dead-lettered")
        await eventually(lambda: drained(nats_url, "mixed"), "consumer drained, nothing stuck")
        async with jetstream(nats_url) as js:
            dead = {m.headers["x-poison"]: m for m in await read_all(js, dead_subject, "inspect") if m.headers}
            dead_count = await stored_count(js, dead_subject)
    finally:
        await bus.stop()

    assert handled == Counter(e.document_id for e in good)  # each exactly once
    assert all(handled[e.document_id] == 1 for e in after_last_poison if isinstance(e, DocumentDeleted))
    assert dead_count == len(poisons) and dead.keys() == poisons.keys()
    for name, message in dead.items():
        headers = message.headers or {}
        assert message.data == poisons[name][0], name
        assert headers["llmops-dlq-consumer"] == "mixed", name
        assert headers["llmops-dlq-subject"] == SUBJECT, name
        assert headers["llmops-dlq-deliveries"] == str(expected_deliveries[name]), name
        assert headers["llmops-dlq-stream-seq"].isdigit(), name
    reasons = {name: (m.headers or {})["llmops-dlq-reason"] for name, m in dead.items()}
    assert reasons["bad-json"].startswith("undecodable:") and "Invalid JSON" in reasons["bad-json"]
    assert "expected event type" in reasons["unknown-type"]
    assert reasons["no-headers"].startswith("undecodable: missing CloudEvents headers")
    assert reasons["refused"] == "refused by policy"
    for doc in always_failing:
        assert reasons[doc] == "RuntimeError: downstream rejects it"
        assert attempts[doc] == [1, 2, 3]


async def test_a_corrupt_body_with_the_platforms_own_headers_is_dead_lettered(nats_url: str) -> None:
    """Bad JSON under the full cloudevent_headers (content-type: application/json) reaches deadletter.<subject>
    within max_deliver=3 deliveries at ack_wait 1 s; a good event after it is handled."""
    bus = Bus(nats_url, SOURCE, max_deliver=3, ack_wait_s=1.0, retry_delay_s=0.05)
    handled: list[str] = []

    async def handler(event: DocumentDeleted, _: EventContext) -> None:
        handled.append(event.document_id)

    bus.subscribe(DocumentDeleted, handler, durable="strict")
    await bus.start()
    try:
        headers = cloudevent_headers(deleted("doc-corrupt"), SOURCE)
        await bus.broker.publish(b"{not json", SUBJECT, headers=headers, stream=STREAM)
        await bus.publish(deleted("doc-after"))
        await eventually(lambda: handled == ["doc-after"], "the good event handled")

        async def dead_lettered() -> bool:
            async with jetstream(nats_url) as js:
                return await stored_count(js, f"{DEAD_LETTER_PREFIX}.{SUBJECT}") == 1

        # 3 deliveries 1 s apart fit well inside 10 s (it was once redelivered indefinitely: FastStream's own JSON
        # decoding failed silently before the bus could dead-letter it).
        await eventually(dead_lettered, "the corrupt event dead-lettered", timeout_s=10)
    finally:
        await bus.stop()


async def test_a_consumer_with_concurrency_one_handles_events_one_at_a_time_in_stream_order(nats_url: str) -> None:
    """Bus.subscribe promises ordering unless concurrency > 1: 64 events already in the stream, fetched 16 at a
    time, must be handled one at a time (at most 1 in flight) and in publish order."""
    publisher = Bus(nats_url, SOURCE)
    await publisher.start()
    try:
        events = [deleted(f"doc-{n:02d}") for n in range(64)]
        for event in events:  # one at a time: stream order is publish order
            await publisher.publish(event)
    finally:
        await publisher.stop()

    handled: list[str] = []
    in_flight, most_in_flight = 0, 0

    async def handler(event: DocumentDeleted, _: EventContext) -> None:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(0.005)  # a real handler awaits I/O: the window where a second one could start
        in_flight -= 1
        handled.append(event.document_id)

    consumer = Bus(nats_url, SOURCE)
    consumer.subscribe(DocumentDeleted, handler, durable="ordered", batch_size=16, concurrency=1)
    await consumer.start()
    try:
        await eventually(lambda: len(handled) == len(events), "64 events handled")
    finally:
        await consumer.stop()
    assert most_in_flight == 1
    assert handled == [e.document_id for e in events]
