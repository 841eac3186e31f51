"""`python -m services.feedback`: the feedback service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from llmops.api.feedback.v1 import feedback_pb2_grpc
from llmops.bus import Bus
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.logging import configure_logging
from llmops.service import run_until_stopped
from services.feedback import handlers
from services.feedback.adapters.store import FeedbackStore
from services.feedback.app import FeedbackApp
from services.feedback.config import Settings
from services.feedback.grpc_api import FeedbackServicer

SERVICE_NAME = "llmops.api.feedback.v1.Feedback"


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs feedback until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_logging(common.log_level, common.log_format)
    store = FeedbackStore(settings.resolved_db_path())
    bus = Bus.from_settings(common, "llmops/feedback")
    app = FeedbackApp(store, bus)
    handlers.register(bus, app)
    server = GrpcServer.from_settings(
        [
            ServiceBinding(
                FeedbackServicer(app, common.default_tenant),
                feedback_pb2_grpc.add_FeedbackServicer_to_server,
                SERVICE_NAME,
            )
        ],
        settings.grpc,
    )
    await run_until_stopped(
        "feedback", server, bus, grace_s=settings.grpc.grace_s, stopped=stopped, on_stop=[store.close]
    )


if __name__ == "__main__":
    asyncio.run(main())
