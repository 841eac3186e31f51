"""`python -m services.guardrails`: the guardrails service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from llmops.api.guardrails.v1 import guardrails_pb2_grpc
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.logging import configure_logging
from llmops.service import run_until_stopped
from services.guardrails.config import Settings
from services.guardrails.grpc_api import servicer

SERVICE_NAME = "llmops.api.guardrails.v1.Guardrails"


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs guardrails until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    configure_logging(settings.common.log_level, settings.common.log_format)
    server = GrpcServer.from_settings(
        [ServiceBinding(servicer(), guardrails_pb2_grpc.add_GuardrailsServicer_to_server, SERVICE_NAME)],
        settings.grpc,
    )
    await run_until_stopped("guardrails", server, grace_s=settings.grpc.grace_s, stopped=stopped)


if __name__ == "__main__":
    asyncio.run(main())
