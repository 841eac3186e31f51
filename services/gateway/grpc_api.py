"""The Assistant gRPC servicer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from llmops.api.gateway.v1 import gateway_pb2 as pb
from llmops.api.gateway.v1 import gateway_pb2_grpc
from llmops.auth import principal_from_metadata
from llmops.observability.tracing import annotate_current_span
from services.gateway import mappers
from services.gateway.app import Answer, Assistant
from services.gateway.core import Limits, Question, validate_question


class AssistantServicer(gateway_pb2_grpc.AssistantServicer):
    """Ask and AskStream over gRPC."""

    def __init__(self, app: Assistant, limits: Limits, default_tenant: str) -> None:
        self.app = app
        self.limits = limits
        self.default_tenant = default_tenant

    def _question(self, request: pb.AskRequest) -> Question:
        return validate_question(
            request.query,
            request.dataset,
            request.top_k,
            request.parameters.max_tokens,
            request.parameters.temperature,
            self.limits,
            prompt_name=request.prompt_name,
            prompt_label=request.prompt_label,
            prompt_version=request.prompt_version,
            model=request.model,
            bypass_cache=request.bypass_cache,
        )

    async def Ask(self, request: pb.AskRequest, context: grpc.aio.ServicerContext) -> pb.AskResponse:
        question = self._question(request)
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        async for item in self.app.ask(principal, question):
            if isinstance(item, Answer):
                annotate_current_span(llmops__tenant=principal.tenant, llmops__interaction_id=item.interaction_id)
                return mappers.answer_to_pb(item)
        raise AssertionError("ask ended without an answer")  # pragma: no cover

    async def AskStream(
        self, request: pb.AskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.AskStreamResponse]:
        question = self._question(request)
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        async for item in self.app.ask(principal, question, streaming=True):
            if isinstance(item, Answer):
                annotate_current_span(llmops__tenant=principal.tenant, llmops__interaction_id=item.interaction_id)
                yield pb.AskStreamResponse(done=mappers.answer_to_pb(item))
            elif isinstance(item, str):
                yield pb.AskStreamResponse(delta=item)
            else:
                yield pb.AskStreamResponse(sources=pb.Sources(citations=[mappers.citation_to_pb(s) for s in item]))
