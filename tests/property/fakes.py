"""Stand-ins for what servicers touch beyond their own code: the gRPC context, the bus, the key-value bucket.

Each is as small as the servicers need and fails loudly where the real one would: the bus refuses an event its
consumers could not decode (that event would be dead-lettered, i.e. lost to them), the context's `abort` raises.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import grpc
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from llmops.bus import EventContext, decode_event
from llmops.errors import DomainError
from llmops.events import Event

ERROR_WIRE_LIMIT = 4096
"""Most bytes a refusal's message may take as a `grpc-message` trailer (percent-encoded UTF-8).

gRPC's default metadata limit is 8 KiB: past it a client sees RESOURCE_EXHAUSTED ("received trailing metadata
size exceeds limit") instead of the status the server sent, sometimes from about 9,000 bytes and always from
about 16,000 (measured with grpcio 1.85). Half of 8 KiB leaves room for the other trailers. A message that
echoes the offending input whole breaks this for inputs of a few kilobytes."""


def wire_size(message: str) -> int:
    """Bytes of `message` in a `grpc-message` trailer: printable ASCII except `%` as is, every other byte `%XX`."""
    return sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in message.encode("utf-8", "surrogatepass"))


def check_refusal(exc: BaseException, allowed: Iterable[str], *, bounded: bool = False) -> None:
    """A refusal is a DomainError with an expected status and a message a person can read; `bounded` also holds the
    message to `ERROR_WIRE_LIMIT` (no echo of a huge input)."""
    assert isinstance(exc, DomainError), f"{type(exc).__name__} escaped instead of a DomainError: {exc!s:.300}"
    assert exc.status in set(allowed), f"status {exc.status}, expected one of {sorted(allowed)}: {exc!s:.300}"
    message = str(exc)
    assert message.strip(), f"{type(exc).__name__} with an empty message"
    if bounded:
        size = wire_size(message)
        assert size <= ERROR_WIRE_LIMIT, f"{exc.status} message of {size} bytes on the wire: {message[:200]!r}..."


class FakeContext:
    """The part of `grpc.aio.ServicerContext` the servicers use: metadata, deadline, abort."""

    def __init__(self, metadata: Sequence[tuple[str, str | bytes]] = (), time_remaining: float | None = 30.0) -> None:
        self._metadata = tuple(metadata)
        self._time_remaining = time_remaining
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata

    def time_remaining(self) -> float | None:
        return self._time_remaining

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50000"

    def cancelled(self) -> bool:
        return False

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        self.aborted = (code, details)
        raise grpc.aio.AbortError(f"{code.name}: {details}")


async def call(method: Any, request: Any, context: FakeContext) -> Any:
    """Runs a servicer method the way grpc.aio does: a unary response, or every message of a response stream."""
    if inspect.isasyncgenfunction(method):
        return [item async for item in method(request, context)]
    return await method(request, context)


async def stream_of(messages: Iterable[Any]) -> AsyncIterator[Any]:
    """A client stream."""
    for message in messages:
        yield message


def decoded(event: Event) -> Event:
    """The event as a consumer of its subject gets it (raises as the bus's dispatcher would dead-letter it)."""
    context = EventContext(event.event_id, event.type, "llmops/test", event.occurred_at, event.subject, 1)
    return decode_event(event.model_dump_json().encode(), context)


class RecordingBus:
    """A publisher that keeps what it is given, after checking every consumer could decode it to the same event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        assert decoded(event) == event, f"{event.type} does not survive its own encoding"
        self.events.append(event)

    async def publish_all(self, events: Iterable[Event]) -> None:
        for event in events:
            await self.publish(event)


def _matches(pattern: str, key: str) -> bool:
    """NATS subject matching: `*` is one token, `>` the rest."""
    want, have = pattern.split("."), key.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


class _Watcher:
    """Delivers the matching entries, then the end-of-initial-values marker (None), then ends."""

    def __init__(self, entries: list[KeyValue.Entry]) -> None:
        self._pending: list[KeyValue.Entry | None] = [*entries, None]

    def __aiter__(self) -> _Watcher:
        return self

    async def __anext__(self) -> KeyValue.Entry | None:
        if not self._pending:
            raise StopAsyncIteration
        return self._pending.pop(0)

    async def stop(self) -> None:
        self._pending.clear()


class MemoryKeyValue:
    """A NATS key-value bucket in a dict: get, create, compare-and-set update and watch, with NATS's errors."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[bytes, int]] = {}
        self._revision = 0

    def _entry(self, key: str) -> KeyValue.Entry:
        value, revision = self._entries[key]
        return KeyValue.Entry("test", key, value, revision, None, None, None)

    async def get(self, key: str) -> KeyValue.Entry:
        if key not in self._entries:
            raise KeyNotFoundError
        return self._entry(key)

    async def create(self, key: str, value: bytes) -> int:
        if key in self._entries:
            raise KeyWrongLastSequenceError(description="wrong last sequence")
        return self._put(key, value)

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        if key not in self._entries or self._entries[key][1] != last:
            raise KeyWrongLastSequenceError(description="wrong last sequence")
        return self._put(key, value)

    async def watch(self, keys: str, **_: object) -> _Watcher:
        return _Watcher([self._entry(k) for k in sorted(self._entries) if _matches(keys, k)])

    def _put(self, key: str, value: bytes) -> int:
        self._revision += 1
        self._entries[key] = (value, self._revision)
        return self._revision


class Reached(Exception):  # noqa: N818 - a signal, not an error
    """Raised by an app stand-in: the request got past the servicer's validation with these domain values."""

    def __init__(self, *values: object) -> None:
        super().__init__("reached the app")
        self.values = values
