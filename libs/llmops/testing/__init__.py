"""Real servers for tests: `nats-server` with JetStream and Triton (PyTriton), started on free ports.

Use the pytest fixtures with `pytest_plugins = ["llmops.testing.fixtures"]`, or the classes directly.
"""

from llmops.testing.servers import NatsServer, TritonServer, free_port

__all__ = ["NatsServer", "TritonServer", "free_port"]
