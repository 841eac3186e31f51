"""Structured logging, configured once per process: console on a TTY, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from llmops.observability.tracing import add_trace_ids

_SENSITIVE_KEYS = frozenset({"password", "secret", "token", "api_key", "authorization", "dsn"})


def _drop_secrets(_: object, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """Masks values whose key names a secret, so credentials never reach a log sink."""
    for key in event_dict:
        if key.lower() in _SENSITIVE_KEYS:
            event_dict[key] = "***"
    return event_dict


def configure_logging(level: str = "INFO", fmt: Literal["auto", "console", "json"] = "auto") -> None:
    """Configures structlog and the standard library root logger for this process."""
    use_console = sys.stderr.isatty() if fmt == "auto" else fmt == "console"
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=True) if use_console else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
        _drop_secrets,
    ]
    structlog.configure(
        # filter_by_level first: a disabled level (debug in production) costs one check, not the whole chain.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # FastStream logs every message at INFO; that costs throughput and floods the log.
    logging.getLogger("faststream").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Returns a structlog logger; use key-value pairs, never f-strings."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
