"""The embedded stack's default ports are the services' own defaults."""

from __future__ import annotations

import importlib

import pytest

from llmops.cli.stack import SERVICES, StackPorts

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", SERVICES)
def test_each_default_port_matches_the_services_settings(service: str) -> None:
    """`llmops dev`, compose and Kubernetes agree with `python -m services.<name>` run bare."""
    settings = importlib.import_module(f"services.{service}.config").Settings()
    assert settings.grpc.port == StackPorts().services[service]
