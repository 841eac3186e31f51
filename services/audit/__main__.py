"""`python -m services.audit`: the audit service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from llmops.api.audit.v1 import audit_pb2_grpc
from llmops.bus import Bus
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.logging import configure_logging
from llmops.service import run_until_stopped
from services.audit import handlers
from services.audit.adapters.sqlite_log import SqliteAuditLog
from services.audit.app import AuditTrail
from services.audit.config import Settings
from services.audit.grpc_api import AuditServicer

SERVICE_NAME = "llmops.api.audit.v1.Audit"


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs audit until signalled (or until `stopped` completes).

    Args:
        settings: the service's settings; read from the environment when None.
        stopped: completes when the service should stop; default a SIGINT or SIGTERM.
    """
    settings = settings or Settings()
    common = settings.common
    configure_logging(common.log_level, common.log_format)
    audit_log = SqliteAuditLog(settings.resolved_db_path())
    trail = AuditTrail(audit_log)
    bus = Bus.from_settings(common, "llmops/audit")
    handlers.register(bus, trail)
    server = GrpcServer.from_settings(
        [ServiceBinding(AuditServicer(trail), audit_pb2_grpc.add_AuditServicer_to_server, SERVICE_NAME)],
        settings.grpc,
    )
    await run_until_stopped(
        "audit", server, bus, grace_s=settings.grpc.grace_s, stopped=stopped, on_stop=[audit_log.close]
    )


if __name__ == "__main__":
    asyncio.run(main())
