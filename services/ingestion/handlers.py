"""Ingestion's bus consumers: pipeline status from `documents.v1.indexed`."""

from __future__ import annotations

from llmops.bus import Bus, EventContext
from llmops.events import DocumentIndexed
from services.ingestion.app import Ingestion


def register(bus: Bus, app: Ingestion) -> None:
    """Subscribes ingestion's handlers; call before the bus starts."""

    async def on_indexed(event: DocumentIndexed, _: EventContext) -> None:
        await app.on_indexed(event)

    bus.subscribe(DocumentIndexed, on_indexed, durable="ingestion-status")
