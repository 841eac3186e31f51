"""Runs one service: its bus consumers and gRPC server, until SIGINT/SIGTERM, then a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence

from llmops.bus import Bus
from llmops.grpc_server import GrpcServer
from llmops.logging import configure_logging, get_logger
from llmops.observability.metrics import start_metrics_endpoint
from llmops.observability.tracing import configure_tracing, flush_tracing
from llmops.settings import CommonSettings

log = get_logger(__name__)


def configure_service(name: str, common: CommonSettings) -> None:
    """A service process's logging, tracing and `/metrics` endpoint, from the platform-wide settings.

    Tracing and the metrics endpoint are per process: when several services share one (`llmops serve a b`), the
    first one's name is the process's trace `service.name`.
    """
    configure_logging(common.log_level, common.log_format)
    configure_tracing(name, common.telemetry)
    port = start_metrics_endpoint(common.telemetry)
    if port is not None:
        log.info("metrics endpoint", service=name, url=f"http://{common.telemetry.metrics_host}:{port}/metrics")


async def wait_for_shutdown_signal() -> None:
    """Returns when the process receives SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_until_stopped(
    name: str,
    server: GrpcServer,
    bus: Bus | None = None,
    *,
    grace_s: float = 5.0,
    stopped: Awaitable[object] | None = None,
    on_start: Sequence[Callable[[], Awaitable[None]]] = (),
    on_serving: Sequence[Callable[[], Awaitable[None]]] = (),
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Starts the bus, runs `on_start` steps, starts the server, runs `on_serving` steps, waits for `stopped`
    (default: a signal), and stops in reverse order."""
    try:
        if bus is not None:
            await bus.start()
        for start in on_start:
            await start()
        await server.start()
        for step in on_serving:
            await step()
        log.info("service started", service=name, grpc=server.address)
        await (stopped if stopped is not None else wait_for_shutdown_signal())
    finally:
        log.info("service stopping", service=name)
        await server.stop(grace_s)
        if bus is not None:
            await bus.stop()
        for close in on_stop:
            await close()
        flush_tracing()
        log.info("service stopped", service=name)


class PeriodicTask:
    """Runs `step` every `interval_s` in the background from `start` until `stop`; a failing step is logged and
    retried at the next tick, never ends the loop."""

    def __init__(self, name: str, step: Callable[[], Awaitable[None]], interval_s: float) -> None:
        self.name = name
        self.step = step
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # noqa: BLE001 - a background chore must outlive one failure
                log.exception("periodic task failed", task=self.name)
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
