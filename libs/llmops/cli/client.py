"""Finding and calling a running platform from the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from llmops.cli.stack import Endpoints, StackPorts


def data_dir() -> Path:
    """The embedded platform's data directory (`LLMOPS_DATA_DIR`, default `.llmops`)."""
    return Path(os.environ.get("LLMOPS_DATA_DIR", ".llmops"))


def service_address(service: str, override: str | None = None) -> str:
    """host:port of a service: the flag, else `LLMOPS_<SERVICE>_URL`, else a running `llmops dev`, else the default."""
    if override:
        return override
    if env := os.environ.get(f"LLMOPS_{service.upper()}_URL"):
        return env
    saved = data_dir() / "endpoints.json"
    if saved.is_file():
        return Endpoints.load(saved).grpc[service]
    return f"127.0.0.1:{StackPorts().services[service]}"
