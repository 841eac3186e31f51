"""The promotion gate as the prompt registry sees it: the feedback service's verdict on a candidate version."""

from __future__ import annotations

import grpc

from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.auth import Principal, principal_metadata
from llmops.errors import FailedPrecondition, Unavailable


class FeedbackPromotionGate:
    """Asks `Feedback.CheckPromotion` on a golden set; a refusal or an unreachable gate leaves the label where it is."""

    def __init__(self, channel: grpc.aio.Channel, golden_set: str, timeout_s: float = 10.0) -> None:
        self._stub = feedback_pb2_grpc.FeedbackStub(channel)
        self.golden_set = golden_set
        self._timeout_s = timeout_s

    async def check(self, principal: Principal, name: str, candidate: int, production: int) -> None:
        request = feedback_pb2.CheckPromotionRequest(
            prompt_name=name, candidate_version=candidate, production_version=production, golden_set=self.golden_set
        )
        try:
            verdict = await self._stub.CheckPromotion(
                request, timeout=self._timeout_s, metadata=principal_metadata(principal)
            )
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(
                f"the promotion gate (feedback service) answered {exc.code().name}: {exc.details()}; "
                "production was not moved"
            ) from exc
        if not verdict.allowed:
            raise FailedPrecondition(f"promotion to production refused: {verdict.reason}")
