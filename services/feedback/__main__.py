"""`python -m services.feedback`: the feedback service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

from llmops.api.feedback.v1 import feedback_pb2_grpc
from llmops.bus import Bus
from llmops.embedding_client import GrpcEmbedder
from llmops.grpc_client import open_channel
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.service import PeriodicTask, configure_service, run_until_stopped
from services.feedback import handlers
from services.feedback.adapters.gateway import GatewayAsker
from services.feedback.adapters.prompts import GrpcPromptRoller
from services.feedback.adapters.store import FeedbackStore
from services.feedback.app import BUILT_IN_GOLDEN, FeedbackApp, GoldenSets
from services.feedback.config import Settings
from services.feedback.grpc_api import FeedbackServicer
from services.feedback.monitoring import Monitor

SERVICE_NAME = "llmops.api.feedback.v1.Feedback"


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs feedback until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_service("feedback", common)
    store = FeedbackStore(settings.resolved_db_path())
    bus = Bus.from_settings(common, "llmops/feedback")
    gateway = open_channel(settings.gateway_url, settings.grpc)
    golden = GoldenSets((settings.golden_dir or common.data_dir / "golden", BUILT_IN_GOLDEN))
    embeddings = open_channel(settings.embedding_url, settings.grpc) if settings.embedding_url else None
    inference = open_channel(settings.inference_url, settings.grpc) if settings.inference_url else None
    monitor = Monitor(bus.publish, settings.drift, embedder=GrpcEmbedder(embeddings, 10.0) if embeddings else None)
    app = FeedbackApp(
        store,
        bus,
        asker=GatewayAsker(gateway, settings.ask_timeout_s),
        golden_sets=golden,
        concurrency=settings.eval_concurrency,
        monitor=monitor,
        roller=GrpcPromptRoller(inference) if inference else None,
        rollback_window=timedelta(hours=settings.rollback_window_h),
    )
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
    await app.restore_monitor()  # before the bus delivers anything to the detectors
    saving = PeriodicTask("drift-state", app.save_monitor, settings.drift_save_interval_s)
    await run_until_stopped(
        "feedback",
        server,
        bus,
        grace_s=settings.grpc.grace_s,
        stopped=stopped,
        on_start=[saving.start],
        on_stop=[
            saving.stop,
            app.save_monitor,
            store.close,
            gateway.close,
            *([embeddings.close] if embeddings else []),
            *([inference.close] if inference else []),
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
