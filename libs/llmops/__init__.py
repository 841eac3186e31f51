"""llmops: the shared library of the llmops platform (settings, events, bus, gRPC bootstrap, test fixtures)."""

__version__ = "0.1.0"
