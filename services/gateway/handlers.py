"""The gateway's bus consumers: document changes invalidate cached answers that cited them."""

from __future__ import annotations

from llmops.bus import Bus, EventContext
from llmops.events import DocumentDeleted, DocumentIndexed
from services.gateway.app import Assistant


def register(bus: Bus, app: Assistant) -> None:
    """Subscribes cache invalidation to indexed (new version) and deleted documents; call before the bus starts.

    Invalidation is a delete by filter, so a redelivered event changes nothing; the ack follows the delete.
    """

    async def on_indexed(event: DocumentIndexed, _: EventContext) -> None:
        if event.superseded_version is not None:
            await app.on_document_changed(event.tenant, event.document_id, event.version, deleted=False)

    async def on_deleted(event: DocumentDeleted, _: EventContext) -> None:
        await app.on_document_changed(event.tenant, event.document_id, event.version, deleted=True)

    bus.subscribe(DocumentIndexed, on_indexed, durable="gateway-cache-indexed")
    bus.subscribe(DocumentDeleted, on_deleted, durable="gateway-cache-deleted")
