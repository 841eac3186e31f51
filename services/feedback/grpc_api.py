"""The Feedback gRPC servicer: decode, call the app, encode."""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from llmops.api.feedback.v1 import feedback_pb2 as pb
from llmops.api.feedback.v1 import feedback_pb2_grpc
from llmops.auth import principal_from_metadata
from llmops.errors import InvalidArgument
from llmops.prompts.builtin import RAG_PROMPT
from llmops.timestamps import from_timestamp
from services.feedback.app import FeedbackApp
from services.feedback.core import rating_from_stars, rating_from_thumbs, validate_submission

EXPORT_CHUNK_EXAMPLES = 500
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
        """A golden set through the gateway for one prompt version and model; metrics beside the previous run's."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        if not request.golden_set.strip():
            raise InvalidArgument("golden_set is empty; name one, e.g. cpython-docs-v1")
        if request.prompt_version < 0:
            raise InvalidArgument(
                f"prompt_version must be positive (0: the production label), got {request.prompt_version}"
            )
        run, deltas = await self.app.evaluate(
            principal,
            request.golden_set.strip(),
            request.golden_set_version.strip(),
            request.prompt_name.strip() or RAG_PROMPT,
            request.prompt_version,
            request.model.strip(),
        )
        finished = Timestamp()
        finished.FromDatetime(run.finished_at)
        return pb.EvaluationReport(
            evaluation_id=run.evaluation_id,
            golden_set=f"{run.golden_set}@{run.golden_set_version}",
            prompt_name=run.prompt_name,
            prompt_version=run.prompt_version,
            model=run.model,
            metrics=[pb.Metric(name=d.name, value=d.current, previous=d.previous) for d in deltas.values()],
            finished_at=finished,
        )

    async def CheckPromotion(
        self, request: pb.CheckPromotionRequest, context: grpc.aio.ServicerContext
    ) -> pb.PromotionVerdict:
        """Whether a prompt version may become production (its evaluation not worse than production's)."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        if not request.golden_set.strip() or not request.prompt_name.strip():
            raise InvalidArgument("prompt_name and golden_set are required")
        verdict = await self.app.check_promotion(
            principal,
            request.prompt_name.strip(),
            request.candidate_version,
            request.production_version,
            request.golden_set.strip(),
        )
        return pb.PromotionVerdict(
            allowed=verdict.allowed,
            reason=verdict.reason,
            failures=[
                pb.GateFailure(
                    metric=f.metric, candidate=f.candidate, production=f.production, allowed_change=f.allowed
                )
                for f in verdict.failures
            ],
            candidate_evaluation_id=verdict.candidate_evaluation.evaluation_id if verdict.candidate_evaluation else "",
            production_evaluation_id=(
                verdict.production_evaluation.evaluation_id if verdict.production_evaluation else ""
            ),
        )

    async def ExportTrainingData(
        self, request: pb.ExportTrainingDataRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TrainingDataChunk]:
        """The caller tenant's training examples, in chunks; the last carries the dataset's content hash."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        since = from_timestamp(request.since, request.HasField("since"), field="since")
        lines = await self.app.training_data(principal, since, request.system_prompt.strip())
        digest = hashlib.sha256()
        for start in range(0, len(lines), EXPORT_CHUNK_EXAMPLES):
            body = "".join(f"{line}\n" for line in lines[start : start + EXPORT_CHUNK_EXAMPLES]).encode()
            digest.update(body)
            yield pb.TrainingDataChunk(jsonl=body, examples=min(len(lines), start + EXPORT_CHUNK_EXAMPLES))
        yield pb.TrainingDataChunk(examples=len(lines), dataset_version=digest.hexdigest())

    async def GetQualityReport(
        self, request: pb.GetQualityReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.QualityReport:
        """Production quality from feedback over a time range (one prompt, or all): mean rating, positive share,
        coverage, categories."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        start = from_timestamp(request.range.start, request.range.HasField("start"), field="range.start")
        end = from_timestamp(request.range.end, request.range.HasField("end"), field="range.end")
        interactions, feedback, metrics = await self.app.quality_report(
            principal, request.prompt_name.strip(), start, end
        )
        return pb.QualityReport(
            metrics=[pb.Metric(name=k, value=v, previous=math.nan) for k, v in metrics.items()],
            interactions=interactions,
            feedback=feedback,
        )
