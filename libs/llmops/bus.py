"""The event bus: FastStream's NatsBroker with JetStream streams, CloudEvents headers, dedupe and dead letters.

Publishing sets `Nats-Msg-Id` to the event's deterministic id, so JetStream drops a re-publish inside its
duplicate window. Consuming is a durable pull consumer with manual acks: the handler's side effect happens
first, then the ack. An event that cannot be decoded, or whose handler raises `PoisonMessage`, goes to
`deadletter.<subject>` at once; one that keeps failing goes there after `max_deliver` deliveries. Either way
the original is terminated, so it never blocks the stream.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import nats
import nats.errors
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from llmops.errors import PoisonMessage, Unauthenticated, Unavailable
from llmops.events import EVENT_TYPES, SPEC_VERSION, Event
from llmops.grpc_client import in_rpc
from llmops.logging import get_logger
from llmops.observability.metrics import (
    DEAD_LETTERS,
    EVENT_HANDLE_SECONDS,
    EVENTS_HANDLED,
    record_consumer_info,
)
from llmops.observability.tracing import consumer_span, inject_trace_headers
from llmops.security.context import current_authentication
from llmops.security.roles import Role
from llmops.settings import CommonSettings

log = get_logger(__name__)

E = TypeVar("E", bound=Event)

DEAD_LETTER_PREFIX = "deadletter"
DUPLICATE_WINDOW_S = 120.0


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream the platform owns."""

    name: str
    subjects: tuple[str, ...]
    max_age_s: float = 0.0  # 0 = keep forever; audit and replay rely on it.


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("DOCUMENTS", ("documents.>",)),
    StreamSpec("INTERACTIONS", ("interactions.>",)),
    StreamSpec("GUARDRAILS", ("guardrails.>",)),
    StreamSpec("FEEDBACK", ("feedback.>",)),
    StreamSpec("ALERTS", ("alerts.>",)),
    StreamSpec("PROMPTS", ("prompts.>",)),
    StreamSpec("DEADLETTER", (f"{DEAD_LETTER_PREFIX}.>",)),
)
"""Every stream, declared once; `ensure_streams` creates or updates them at start-up."""


def stream_for(subject: str) -> str:
    """Names the stream that captures a subject (or a wildcard filter)."""
    root = subject.split(".", 1)[0]
    for spec in STREAMS:
        if any(s.split(".", 1)[0] == root for s in spec.subjects):
            return spec.name
    raise ValueError(f"no stream captures subject {subject!r}; declare it in llmops.bus.STREAMS")


async def ensure_streams(nats_url: str, streams: Iterable[StreamSpec] = STREAMS, replicas: int = 1) -> None:
    """Creates each stream, or updates it to the declared config; safe to run from every service."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for spec in streams:
            config = StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=StorageType.FILE,
                num_replicas=replicas,
                duplicate_window=DUPLICATE_WINDOW_S,
                max_age=spec.max_age_s,
            )
            try:
                await js.stream_info(spec.name)
            except NotFoundError:
                await js.add_stream(config)
            else:
                await js.update_stream(config)
    finally:
        await nc.drain()


def _fresh_traceparent() -> str:
    """A new W3C traceparent, for events published outside any trace (e.g. by a periodic task)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


_carried_actor: ContextVar[tuple[str, str] | None] = ContextVar("llmops_event_actor", default=None)
"""The actor of the event being handled, so the events its handler publishes name the same one."""


def actor_headers(source: str) -> dict[str, str]:
    """Who caused the event, as the CloudEvents `authcontext` extension (`ce-authtype`, `ce-authid`).

    The verified principal of the RPC being served (`tenant/subject`; a service acting for a user names the
    user); else the actor of the event being handled; else `system` (a periodic task of `source`). Without
    authentication (embedded mode) a call's actor is `unauthenticated`: its `x-llmops-*` headers prove nothing.
    """
    try:
        authenticated = current_authentication()
    except Unauthenticated:
        carried = _carried_actor.get()
        if carried is not None:
            return {"ce-authtype": carried[0], "ce-authid": carried[1]}
        return {"ce-authtype": "unauthenticated" if in_rpc() else "system", "ce-authid": source}
    principal = authenticated.principal
    kind = "service_account" if principal is authenticated.caller and Role.SERVICE in principal.roles else "app_user"
    return {"ce-authtype": kind, "ce-authid": f"{principal.tenant}/{principal.subject}"}


def cloudevent_headers(event: Event, source: str) -> dict[str, str]:
    """CloudEvents binary-mode attributes as NATS headers, who caused the event, the trace context and the
    JetStream dedupe id."""
    headers = {
        "ce-id": event.event_id,
        "ce-type": event.type,
        "ce-source": source,
        "ce-time": event.occurred_at.isoformat(),
        "ce-specversion": SPEC_VERSION,
        "ce-tenant": event.tenant,
        "content-type": "application/json",
        **actor_headers(source),
        **inject_trace_headers({}),
        "Nats-Msg-Id": event.event_id,
    }
    headers.setdefault("traceparent", _fresh_traceparent())
    return headers


@dataclass(frozen=True)
class EventContext:
    """What a handler knows about the delivery besides the body."""

    id: str
    type: str
    source: str
    time: datetime | None
    subject: str
    deliveries: int
    headers: dict[str, str] = field(default_factory=dict)


def decode_event(body: bytes, ctx: EventContext) -> Event:
    """Decodes any platform event by its CloudEvents type; unknown types and bad bodies are poison."""
    cls = EVENT_TYPES.get(ctx.type)
    if cls is None:
        raise PoisonMessage(f"unknown event type {ctx.type!r}")
    if ctx.subject != cls.subject:
        raise PoisonMessage(f"event type {ctx.type!r} does not belong on subject {ctx.subject!r}")
    return cls.model_validate_json(body)


class Bus:
    """Publishes and consumes platform events over one NATS connection."""

    def __init__(
        self,
        nats_url: str,
        source: str,
        *,
        max_deliver: int = 5,
        ack_wait_s: float = 30.0,
        retry_delay_s: float = 0.5,
        publish_timeout_s: float = 5.0,
        stream_replicas: int = 1,
        lag_interval_s: float = 15.0,
    ) -> None:
        self.nats_url = nats_url
        self.source = source
        self.service = source.rpartition("/")[2]
        """The `service` label of this bus's metrics: `gateway` for source `llmops/gateway`."""
        self.lag_interval_s = lag_interval_s
        self._consumers: list[tuple[str, str]] = []
        self._lag_task: asyncio.Task[None] | None = None
        self.max_deliver = max_deliver
        self.ack_wait_s = ack_wait_s
        self.retry_delay_s = retry_delay_s
        self.publish_timeout_s = publish_timeout_s
        self.stream_replicas = stream_replicas
        self.broker = NatsBroker(nats_url, logger=None, graceful_timeout=5.0)

    @classmethod
    def from_settings(cls, common: CommonSettings, source: str) -> Bus:
        """A bus configured from the platform-wide settings."""
        return cls(
            common.nats_url,
            source,
            max_deliver=common.max_deliver,
            ack_wait_s=common.ack_wait_s,
            stream_replicas=common.stream_replicas,
        )

    async def start(self) -> None:
        """Ensures the streams exist, then connects and starts every registered consumer."""
        await ensure_streams(self.nats_url, replicas=self.stream_replicas)
        await self.broker.start()
        if self._consumers:
            self._lag_task = asyncio.create_task(self._watch_lag(), name=f"{self.service}-consumer-lag")

    async def _watch_lag(self) -> None:
        """Publishes each durable consumer's lag as metrics (`llmops_consumer_pending`) every `lag_interval_s`."""
        while True:
            for stream, durable in self._consumers:
                try:
                    js = self.broker.connection.jetstream()
                    record_consumer_info(await js.consumer_info(stream, durable))
                except Exception as exc:  # noqa: BLE001 - a metrics chore must outlive a reconnect
                    log.debug("consumer lag unavailable", consumer=durable, error=type(exc).__name__)
            await asyncio.sleep(self.lag_interval_s)

    async def stop(self) -> None:
        """Stops consumers (waiting for in-flight handlers) and closes the connection."""
        if self._lag_task is not None:
            self._lag_task.cancel()
            self._lag_task = None
        try:
            await self.broker.stop()
        except nats.errors.Error as exc:
            # NATS already gone (e.g. reconnecting): unacked messages are redelivered, nothing is lost.
            log.warning("bus stopped without a clean close", error=type(exc).__name__)

    async def publish(self, event: Event) -> None:
        """Publishes one event and waits for JetStream to store it."""
        await self._publish(event.model_dump_json().encode(), event.subject, cloudevent_headers(event, self.source))

    async def publish_all(self, events: Iterable[Event]) -> None:
        """Publishes events concurrently and waits for every store acknowledgement."""
        await asyncio.gather(*(self.publish(e) for e in events))

    async def _publish(self, body: bytes, subject: str, headers: dict[str, str]) -> None:
        try:
            await self.broker.publish(
                body, subject, headers=headers, stream=stream_for(subject), timeout=self.publish_timeout_s
            )
        except (nats.errors.Error, TimeoutError) as exc:
            # Callers turn this into UNAVAILABLE: the work is not recorded, so the client should retry.
            raise Unavailable(f"event bus at {self.nats_url} did not store {subject}: {type(exc).__name__}") from exc

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[E, EventContext], Awaitable[None]],
        *,
        durable: str,
        batch_size: int = 16,
        concurrency: int = 1,
    ) -> None:
        """Registers a durable consumer of one event type; call before `start`.

        `concurrency` handlers run at once, from fetches of `batch_size` messages; more than one gives up ordering
        between messages. With 1, messages are fetched and handled one at a time, in stream order.
        """

        def decode(body: bytes, ctx: EventContext) -> E:
            if ctx.type != event_type.type:
                raise PoisonMessage(f"expected event type {event_type.type!r}, got {ctx.type!r}")
            return event_type.model_validate_json(body)

        self._register(event_type.subject, durable, decode, handler, batch_size, concurrency)

    def subscribe_all(
        self,
        subject_filter: str,
        handler: Callable[[Event, EventContext], Awaitable[None]],
        *,
        durable: str,
        batch_size: int = 64,
        concurrency: int = 1,
    ) -> None:
        """Registers a durable consumer of every event type matching a wildcard filter (e.g. `documents.>`).

        `concurrency` handlers run at once; more than one gives up ordering between messages.
        """
        self._register(subject_filter, durable, decode_event, handler, batch_size, concurrency)

    def _register(
        self,
        subject: str,
        durable: str,
        decode: Callable[[bytes, EventContext], Any],
        handler: Callable[[Any, EventContext], Awaitable[None]],
        batch_size: int,
        concurrency: int,
    ) -> None:
        self._consumers.append((stream_for(subject), durable))
        subscriber = self.broker.subscriber(
            subject,
            stream=JStream(stream_for(subject), declare=False),
            durable=durable,
            # FastStream runs a fetched batch's messages at once, each reaching the handler after awaits of its
            # own, so only a batch of one keeps stream order: `concurrency` 1 fetches one message at a time.
            pull_sub=PullSub(batch_size=batch_size if concurrency > 1 else 1, timeout=1.0),
            # Unlimited at the server: the dead-letter decision is ours, made before the handler runs,
            # so even a message that crashes the process every time ends in the dead-letter subject.
            config=ConsumerConfig(ack_wait=self.ack_wait_s, max_deliver=-1),
            ack_policy=AckPolicy.MANUAL,
            description=f"durable consumer {durable}",
            max_workers=concurrency,
            # The body stays bytes until `_dispatch` decodes it: FastStream's own JSON decoding would fail
            # silently on a corrupt body, never ack it and never let it reach the dead-letter subject.
            decoder=_raw_body,
        )
        # At most `concurrency` handlers at once, whatever the batch size.
        admitted = asyncio.Semaphore(concurrency)

        async def on_message(msg: NatsMessage) -> None:
            async with admitted:
                await self._dispatch(msg, subject, durable, decode, handler)

        subscriber(on_message)

    async def _dispatch(
        self,
        msg: NatsMessage,
        filter_subject: str,
        durable: str,
        decode: Callable[[bytes, EventContext], Any],
        handler: Callable[[Any, EventContext], Awaitable[None]],
    ) -> None:
        raw = msg.raw_message
        headers = dict(raw.headers or {})
        ctx = EventContext(
            id=headers.get("ce-id", ""),
            type=headers.get("ce-type", ""),
            source=headers.get("ce-source", ""),
            time=_parse_time(headers.get("ce-time")),
            subject=raw.subject,
            deliveries=raw.metadata.num_delivered,
            headers=headers,
        )
        bound = log.bind(consumer=durable, subject=ctx.subject, event_id=ctx.id, deliveries=ctx.deliveries)
        if ctx.deliveries > self.max_deliver:
            await self._dead_letter(msg, ctx, durable, "delivered more than max_deliver times without an ack")
            return
        if not ctx.id or not ctx.type:
            await self._dead_letter(msg, ctx, durable, "undecodable: missing CloudEvents headers ce-id and ce-type")
            return
        try:
            event = decode(raw.data, ctx)
        except (PoisonMessage, ValidationError, ValueError) as exc:
            await self._dead_letter(msg, ctx, durable, f"undecodable: {exc}")
            return
        # Always set: a consumer's messages may share one task, and an actor must not leak to the next message.
        actor = headers.get("ce-authid")
        _carried_actor.set((headers.get("ce-authtype", "unknown"), actor) if actor else None)
        subject = filter_subject
        attributes = {"messaging.destination.name": ctx.subject, "messaging.consumer.group.name": durable}
        with consumer_span(f"consume {ctx.subject}", headers, **attributes, **{"messaging.message.id": ctx.id}):
            started = time.perf_counter()
            try:
                await handler(event, ctx)
            except PoisonMessage as exc:
                await self._dead_letter(msg, ctx, durable, str(exc))
                return
            except Exception as exc:
                if ctx.deliveries >= self.max_deliver:
                    bound.exception("handler failed on its last delivery")
                    await self._dead_letter(msg, ctx, durable, f"{type(exc).__name__}: {exc}")
                else:
                    bound.warning("handler failed, will retry", error=f"{type(exc).__name__}: {exc}")
                    EVENTS_HANDLED.labels(self.service, subject, "retry").inc()
                    await msg.nack(delay=self.retry_delay_s * ctx.deliveries)
                return
            finally:
                EVENT_HANDLE_SECONDS.labels(self.service, subject).observe(time.perf_counter() - started)
            await msg.ack()
            EVENTS_HANDLED.labels(self.service, subject, "ack").inc()

    async def _dead_letter(self, msg: NatsMessage, ctx: EventContext, durable: str, reason: str) -> None:
        raw = msg.raw_message
        headers = {k: v for k, v in ctx.headers.items() if k != "Nats-Msg-Id"}
        seq = raw.metadata.sequence.stream
        headers.update(
            {
                "llmops-dlq-reason": reason[:1000],
                "llmops-dlq-consumer": durable,
                "llmops-dlq-subject": ctx.subject,
                "llmops-dlq-stream-seq": str(seq),
                "llmops-dlq-deliveries": str(ctx.deliveries),
                "Nats-Msg-Id": f"dlq:{durable}:{raw.metadata.stream}:{seq}",
            }
        )
        await self._publish(raw.data, f"{DEAD_LETTER_PREFIX}.{ctx.subject}", headers)
        log.error("event dead-lettered", consumer=durable, subject=ctx.subject, event_id=ctx.id, reason=reason)
        await msg.reject()
        DEAD_LETTERS.labels(self.service, ctx.subject).inc()
        EVENTS_HANDLED.labels(self.service, ctx.subject, "dead_letter").inc()


async def _raw_body(message: NatsMessage) -> bytes:
    """The message body as received; decoding (and refusing) it is `_dispatch`'s job."""
    return bytes(message.body)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
