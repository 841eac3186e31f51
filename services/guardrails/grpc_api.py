"""The Guardrails gRPC servicer: translate requests, ask the use case, translate verdicts."""

from __future__ import annotations

import grpc

from llmops.api.guardrails.v1 import guardrails_pb2 as pb
from llmops.api.guardrails.v1 import guardrails_pb2_grpc
from llmops.auth import principal_from_metadata
from llmops.errors import NotFound
from services.guardrails.app import Guardrails
from services.guardrails.core import Verdict


def verdict_to_pb(verdict: Verdict) -> pb.Verdict:
    return pb.Verdict(
        action=int(verdict.action),  # type: ignore[arg-type]  # Action values equal the proto enum's
        findings=[
            pb.Finding(
                scanner=j.finding.scanner,
                category=j.finding.category,
                score=j.finding.score,
                span=pb.Span(start=j.finding.start, end=j.finding.end),
                action=int(j.action),  # type: ignore[arg-type]
                detail=j.finding.detail,
            )
            for j in verdict.findings
        ],
        redacted_text=verdict.redacted_text,
        policy_id=verdict.policy_id,
        policy_version=verdict.policy_version,
        latency_ms=float(verdict.extra.get("latency_ms", 0.0)),
    )


class GuardrailsServicer(guardrails_pb2_grpc.GuardrailsServicer):
    """CheckInput, CheckOutput, CheckDocument and GetPolicy for the caller's tenant."""

    def __init__(self, app: Guardrails, default_tenant: str) -> None:
        self.app = app
        self.default_tenant = default_tenant

    def _tenant(self, context: grpc.aio.ServicerContext) -> str:
        return principal_from_metadata(context.invocation_metadata(), self.default_tenant).tenant

    async def CheckInput(self, request: pb.CheckInputRequest, context: grpc.aio.ServicerContext) -> pb.Verdict:
        verdict = await self.app.check_input(self._tenant(context), request.application, request.text)
        return verdict_to_pb(verdict)

    async def CheckOutput(self, request: pb.CheckOutputRequest, context: grpc.aio.ServicerContext) -> pb.Verdict:
        sources = {i: chunk.text for i, chunk in enumerate(request.sources, start=1)}
        verdict = await self.app.check_output(
            self._tenant(context), request.application, request.answer, sources, request.canary
        )
        return verdict_to_pb(verdict)

    async def CheckDocument(self, request: pb.CheckDocumentRequest, context: grpc.aio.ServicerContext) -> pb.Verdict:
        verdict = await self.app.check_document(self._tenant(context), request.application, request.text)
        return verdict_to_pb(verdict)

    async def GetPolicy(self, request: pb.GetPolicyRequest, context: grpc.aio.ServicerContext) -> pb.Policy:
        tenant = self._tenant(context)
        if request.tenant and request.tenant != tenant:
            raise NotFound(f"no policy visible for tenant {request.tenant!r}; you can read your own tenant's")
        policy = self.app.policy(tenant, request.application)
        return pb.Policy(
            policy_id=policy.policy_id,
            version=policy.version,
            tenant=policy.tenant,
            application=policy.application,
            body_yaml=policy.body_yaml,
        )
