"""Shared test configuration: real-server fixtures from `llmops.testing`."""

pytest_plugins = ["llmops.testing.fixtures"]
