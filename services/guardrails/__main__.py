"""`python -m services.guardrails`: the guardrails service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from llmops.api.guardrails.v1 import guardrails_pb2_grpc
from llmops.bus import Bus
from llmops.embedding_client import GrpcEmbedder
from llmops.grpc_client import open_channel
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.service import PeriodicTask, configure_service, run_until_stopped
from services.guardrails import core, pii
from services.guardrails.app import Guardrails, policy_event
from services.guardrails.config import Settings
from services.guardrails.grpc_api import GuardrailsServicer
from services.guardrails.policy import PolicySet

SERVICE_NAME = "llmops.api.guardrails.v1.Guardrails"


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs guardrails until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_service("guardrails", common)
    policies = PolicySet(settings.resolved_policies_dir())
    policies.reload()
    bus = Bus.from_settings(common, "llmops/guardrails")
    channel = open_channel(settings.embedding_url, settings.grpc) if settings.embedding_url else None
    embedder = GrpcEmbedder(channel, settings.embed_timeout_s) if channel is not None else None
    app = Guardrails(policies, bus, embedder, settings.budget_s)
    server = GrpcServer.from_settings(
        [
            ServiceBinding(
                GuardrailsServicer(app, common.default_tenant),
                guardrails_pb2_grpc.add_GuardrailsServicer_to_server,
                SERVICE_NAME,
            )
        ],
        settings.grpc,
    )

    async def reload() -> None:
        policies.reload()
        for change in policies.drain_changes():  # every activation and rejection lands in the audit log
            await bus.publish(policy_event(change))
        if any(p.input.pii_ner.enabled or p.output.pii_ner.enabled for p in policies.all()):
            await asyncio.to_thread(pii.NER.get)  # load spaCy now, not inside a request's budget

    async def warm_up() -> None:
        await asyncio.to_thread(core.warm_up)
        await reload()

    async def close_channel() -> None:
        if channel is not None:
            await channel.close()

    watcher = PeriodicTask("policy-reload", reload, settings.reload_interval_s)
    await run_until_stopped(
        "guardrails",
        server,
        bus,
        grace_s=settings.grpc.grace_s,
        stopped=stopped,
        on_start=[warm_up],
        on_serving=[watcher.start],
        on_stop=[watcher.stop, close_channel],
    )


if __name__ == "__main__":
    asyncio.run(main())
