"""The Inference and Prompts gRPC servicers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

import grpc

from llmops.api.inference.v1 import inference_pb2 as pb
from llmops.api.inference.v1 import inference_pb2_grpc
from llmops.auth import Principal, principal_from_metadata
from llmops.errors import InvalidArgument
from llmops.prompts.core import PRODUCTION
from services.inference import mappers
from services.inference.app import Inference
from services.inference.core import Completion, Message, Parameters, PromptUse, with_canary
from services.inference.prompts import PromptRegistry


class InferenceServicer(inference_pb2_grpc.InferenceServicer):
    """Generation over gRPC."""

    def __init__(self, app: Inference, default_tenant: str) -> None:
        self.app = app
        self.default_tenant = default_tenant

    async def _decode(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> tuple[Principal, list[Message], Parameters, PromptUse, str]:
        """(principal, messages, parameters, prompt used, model asked for) of a request."""
        principal = principal_from_metadata(context.invocation_metadata(), self.default_tenant)
        which = request.WhichOneof("input")
        if which == "messages":
            params = mappers.parameters_from_pb(request.parameters, self.app.limits)
            return principal, mappers.messages_from_pb(request), params, PromptUse(), request.model
        if which == "prompt":
            ref = request.prompt
            rendered = await self.app.render(
                principal, ref.name, dict(ref.variables), label=ref.label, version=ref.version
            )
            params = mappers.parameters_from_pb(request.parameters, self.app.limits, rendered.defaults)
            return principal, rendered.messages, params, rendered.use, request.model or rendered.model
        raise InvalidArgument("set messages (a conversation) or prompt (a registered prompt with variables)")

    async def _run(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[str | Completion]:
        principal, messages, params, prompt, model = await self._decode(request, context)
        messages = with_canary(messages, request.canary)
        stream = self.app.stream(
            principal, messages, params, prompt_use=prompt, model=model, timeout_s=context.time_remaining()
        )
        async with contextlib.aclosing(stream):  # a caller that leaves cancels generation down to Triton
            async for item in stream:
                yield item

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        async for item in self._run(request, context):
            if isinstance(item, Completion):
                return mappers.completion_to_pb(item)
        raise AssertionError("generation ended without a completion")  # pragma: no cover

    async def GenerateStream(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateStreamResponse]:
        async for item in self._run(request, context):
            if isinstance(item, Completion):
                yield pb.GenerateStreamResponse(done=mappers.completion_to_pb(item))
            else:
                yield pb.GenerateStreamResponse(delta=item)


class PromptsServicer(inference_pb2_grpc.PromptsServicer):
    """The prompt registry over gRPC; writes land in the caller's tenant namespace."""

    def __init__(self, registry: PromptRegistry, default_tenant: str) -> None:
        self.registry = registry
        self.default_tenant = default_tenant

    def _principal(self, context: grpc.aio.ServicerContext) -> Principal:
        return principal_from_metadata(context.invocation_metadata(), self.default_tenant)

    async def CreatePromptVersion(
        self, request: pb.CreatePromptVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.PromptVersion:
        version, head = await self.registry.create(self._principal(context), mappers.draft_from_pb(request))
        return mappers.prompt_version_to_pb(version, head)

    async def GetPrompt(self, request: pb.GetPromptRequest, context: grpc.aio.ServicerContext) -> pb.PromptVersion:
        version, head = await self.registry.get(
            self._principal(context), request.name.strip(), request.label.strip(), request.version
        )
        return mappers.prompt_version_to_pb(version, head)

    async def ListPromptVersions(
        self, request: pb.ListPromptVersionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPromptVersionsResponse:
        versions, head = await self.registry.versions(self._principal(context), request.name.strip())
        return pb.ListPromptVersionsResponse(versions=[mappers.prompt_version_to_pb(v, head) for v in versions])

    async def SetLabel(self, request: pb.SetLabelRequest, context: grpc.aio.ServicerContext) -> pb.PromptVersion:
        version, head = await self.registry.set_label(
            self._principal(context), request.name.strip(), request.label.strip(), request.version, request.reason
        )
        return mappers.prompt_version_to_pb(version, head)

    async def Rollback(self, request: pb.RollbackRequest, context: grpc.aio.ServicerContext) -> pb.PromptVersion:
        version, head = await self.registry.rollback(
            self._principal(context), request.name.strip(), request.label.strip() or PRODUCTION, request.reason
        )
        return mappers.prompt_version_to_pb(version, head)

    async def SetSplit(self, request: pb.SetSplitRequest, context: grpc.aio.ServicerContext) -> pb.PromptSummary:
        head = await self.registry.set_split(
            self._principal(context), request.name.strip(), dict(request.weights), request.reason
        )
        return mappers.prompt_summary_to_pb(head)

    async def ListPrompts(
        self, request: pb.ListPromptsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPromptsResponse:
        heads = await self.registry.prompts(self._principal(context))
        return pb.ListPromptsResponse(prompts=[mappers.prompt_summary_to_pb(h) for h in heads])
