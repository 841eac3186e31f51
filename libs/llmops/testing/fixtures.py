"""Pytest fixtures that start real servers: `nats_server` per test, `triton_server` per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmops.testing.servers import NatsServer, TritonServer


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh `nats-server` with JetStream on a free port and a temporary store, for one test."""
    with NatsServer() as server:
        yield server


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """The URL of this test's NATS server."""
    return nats_server.url


@pytest.fixture(scope="session")
def triton_server() -> Iterator[TritonServer]:
    """A Triton server serving the deterministic extractive model under the TensorRT-LLM ensemble names."""
    with TritonServer("extractive") as server:
        yield server
