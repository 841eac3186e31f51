"""`python -m services.audit`: the audit service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime

from llmops.api.audit.v1 import audit_pb2_grpc
from llmops.bus import Bus
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.service import PeriodicTask, configure_service, run_until_stopped
from services.audit import handlers
from services.audit.adapters.sealing import Ed25519Sealer, load_or_create_key
from services.audit.adapters.sql_engines import Engine, PostgresEngine, SqliteEngine
from services.audit.adapters.sql_log import SqlAuditLog
from services.audit.app import AuditTrail, GroupCommit
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
    configure_service("audit", common)
    sealer = Ed25519Sealer(load_or_create_key(settings.signing_key.get_secret_value(), settings.resolved_key_path()))
    dsn = settings.postgres_dsn.get_secret_value()
    engine: Engine = PostgresEngine(dsn, settings.postgres_schema) if dsn else SqliteEngine(settings.resolved_db_path())
    audit_log = SqlAuditLog(engine, sealer)
    trail = AuditTrail(audit_log, GroupCommit(audit_log, max_wait_s=settings.commit_wait_ms / 1000))
    bus = Bus.from_settings(common, "llmops/audit")
    handlers.register(bus, trail)
    servicer = AuditServicer(trail, sealer.public_key, common.default_tenant)
    server = GrpcServer.from_settings(
        [ServiceBinding(servicer, audit_pb2_grpc.add_AuditServicer_to_server, SERVICE_NAME)], settings.grpc
    )

    async def retention() -> None:
        await trail.apply_retention(settings.retention_days, datetime.now(UTC))

    expiry = PeriodicTask("retention", retention, settings.retention_interval_s)
    await run_until_stopped(
        "audit",
        server,
        bus,
        grace_s=settings.grpc.grace_s,
        stopped=stopped,
        on_serving=[expiry.start] if settings.retention_days else [],
        on_stop=[expiry.stop, audit_log.close],
    )


if __name__ == "__main__":
    asyncio.run(main())
