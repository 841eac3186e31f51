"""The Feedback gRPC servicer: the full v1 contract, each method naming what is not built yet."""

from __future__ import annotations

from typing import Any

from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.grpc_server import unimplemented_servicer

MISSING = "feedback, golden-set evaluation and drift detection arrive with issue #7"


def servicer() -> Any:
    """The Feedback servicer."""
    return unimplemented_servicer(
        feedback_pb2_grpc.FeedbackServicer, feedback_pb2.DESCRIPTOR.services_by_name["Feedback"], MISSING
    )
