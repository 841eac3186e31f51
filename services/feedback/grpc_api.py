"""The Feedback gRPC servicer: decode, call the app, encode."""

from __future__ import annotations

import grpc

from llmops.api.feedback.v1 import feedback_pb2 as pb
from llmops.api.feedback.v1 import feedback_pb2_grpc
from llmops.auth import principal_from_metadata
from llmops.errors import Unimplemented
from services.feedback.app import FeedbackApp
from services.feedback.core import rating_from_stars, rating_from_thumbs, validate_submission

EVALUATION_MISSING = "golden-set evaluation and quality reports are the next part of issue #7"
_CATEGORIES = {
    pb.FEEDBACK_CATEGORY_WRONG: "wrong",
    pb.FEEDBACK_CATEGORY_UNSAFE: "unsafe",
    pb.FEEDBACK_CATEGORY_INCOMPLETE: "incomplete",
    pb.FEEDBACK_CATEGORY_OUTDATED: "outdated",
}


class FeedbackServicer(feedback_pb2_grpc.FeedbackServicer):
    """Human feedback over gRPC."""

    def __init__(self, app: FeedbackApp, default_tenant: str) -> None:
        self.app = app
        self.default_tenant = default_tenant

    async def Submit(self, request: pb.SubmitRequest, context: grpc.aio.ServicerContext) -> pb.SubmitResponse:
        """Feedback on one answer; the interaction must be the caller tenant's."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        which = request.WhichOneof("rating")
        rating, scale = None, ""
        if which == "thumbs_up":
            rating, scale = rating_from_thumbs(request.thumbs_up), "thumbs"
        elif which == "stars":
            rating, scale = rating_from_stars(request.stars), "stars"
        categories = [_CATEGORIES.get(c, f"unknown({c})") for c in request.categories]
        submission = validate_submission(
            request.interaction_id, rating, scale, categories, request.comment, request.corrected_answer
        )
        return pb.SubmitResponse(feedback_id=await self.app.submit(principal, submission))

    async def Evaluate(self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext) -> pb.EvaluationReport:
        raise Unimplemented(f"Feedback.Evaluate: {EVALUATION_MISSING}")

    async def GetQualityReport(
        self, request: pb.GetQualityReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.QualityReport:
        raise Unimplemented(f"Feedback.GetQualityReport: {EVALUATION_MISSING}")
