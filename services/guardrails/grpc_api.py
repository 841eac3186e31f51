"""The Guardrails gRPC servicer: the full v1 contract, each method naming what is not built yet."""

from __future__ import annotations

from typing import Any

from llmops.api.guardrails.v1 import guardrails_pb2, guardrails_pb2_grpc
from llmops.grpc_server import unimplemented_servicer

MISSING = "the scanners and versioned policies arrive with issue #5"


def servicer() -> Any:
    """The Guardrails servicer."""
    return unimplemented_servicer(
        guardrails_pb2_grpc.GuardrailsServicer,
        guardrails_pb2.DESCRIPTOR.services_by_name["Guardrails"],
        MISSING,
    )
