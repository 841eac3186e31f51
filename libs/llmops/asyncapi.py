"""The AsyncAPI 3.0 document of the platform's events, generated from the event models."""

from __future__ import annotations

from typing import Any

from llmops import __version__
from llmops.bus import DEAD_LETTER_PREFIX, stream_for
from llmops.events import EVENT_TYPES

CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce-id", "ce-type", "ce-source", "ce-time", "ce-specversion", "Nats-Msg-Id"],
    "properties": {
        "ce-id": {"type": "string", "description": "Deterministic event id; equals Nats-Msg-Id."},
        "ce-type": {"type": "string"},
        "ce-source": {"type": "string", "description": "Publishing service, e.g. llmops/ingestion."},
        "ce-time": {"type": "string", "format": "date-time"},
        "ce-specversion": {"const": "1.0"},
        "ce-tenant": {"type": "string"},
        "ce-authtype": {
            "enum": ["app_user", "service_account", "system", "unauthenticated", "unknown"],
            "description": "CloudEvents authcontext: the kind of actor that caused the event.",
        },
        "ce-authid": {
            "type": "string",
            "description": "CloudEvents authcontext: tenant/subject of the verified principal, or the source.",
        },
        "traceparent": {"type": "string", "description": "W3C trace context."},
        "Nats-Msg-Id": {"type": "string", "description": "JetStream dedupe key."},
    },
}


def document() -> dict[str, Any]:
    """The AsyncAPI document: one channel and message per event subject, payload schemas from pydantic."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_type, cls in sorted(EVENT_TYPES.items()):
        key = cls.subject.replace(".", "_")
        messages[key] = {
            "name": event_type,
            "title": cls.__name__,
            "summary": (cls.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "headers": CLOUDEVENT_HEADERS,
            "payload": cls.model_json_schema(),
        }
        channels[key] = {
            "address": cls.subject,
            "description": f"JetStream stream {stream_for(cls.subject)}; poison messages go to "
            f"{DEAD_LETTER_PREFIX}.{cls.subject}.",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"receive_{key}"] = {"action": "receive", "channel": {"$ref": f"#/channels/{key}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "llmops platform events",
            "version": __version__,
            "description": "Events downstream systems can subscribe to (NATS JetStream, CloudEvents binary mode).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
