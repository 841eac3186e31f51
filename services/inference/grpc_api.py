"""The Inference and Prompts gRPC servicers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from llmops.api.inference.v1 import inference_pb2 as pb
from llmops.api.inference.v1 import inference_pb2_grpc
from llmops.errors import InvalidArgument, Unimplemented
from services.inference import mappers
from services.inference.app import Inference
from services.inference.core import Completion, Message, Parameters

PROMPT_REGISTRY_MISSING = "the prompt registry (versions, labels, rollback) arrives with issue #4"


class InferenceServicer(inference_pb2_grpc.InferenceServicer):
    """Generation over gRPC."""

    def __init__(self, app: Inference) -> None:
        self.app = app

    def _decode(self, request: pb.GenerateRequest) -> tuple[list[Message], Parameters]:
        which = request.WhichOneof("input")
        if which == "prompt":
            raise Unimplemented(f"GenerateRequest.prompt: {PROMPT_REGISTRY_MISSING}; send messages instead")
        if which != "messages":
            raise InvalidArgument("set messages (the conversation to complete)")
        return mappers.messages_from_pb(request), mappers.parameters_from_pb(request.parameters, self.app.limits)

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        messages, params = self._decode(request)
        async for item in self.app.stream(messages, params):
            if isinstance(item, Completion):
                return mappers.completion_to_pb(item)
        raise AssertionError("generation ended without a completion")  # pragma: no cover

    async def GenerateStream(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateStreamResponse]:
        messages, params = self._decode(request)
        async for item in self.app.stream(messages, params):
            if isinstance(item, Completion):
                yield pb.GenerateStreamResponse(done=mappers.completion_to_pb(item))
            else:
                yield pb.GenerateStreamResponse(delta=item)


class PromptsServicer(inference_pb2_grpc.PromptsServicer):
    """The prompt registry's contract; every method names what is missing until it lands."""

    async def CreatePromptVersion(
        self, request: pb.CreatePromptVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.PromptVersion:
        raise Unimplemented(f"Prompts.CreatePromptVersion: {PROMPT_REGISTRY_MISSING}")

    async def GetPrompt(self, request: pb.GetPromptRequest, context: grpc.aio.ServicerContext) -> pb.PromptVersion:
        raise Unimplemented(f"Prompts.GetPrompt: {PROMPT_REGISTRY_MISSING}")

    async def ListPromptVersions(
        self, request: pb.ListPromptVersionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPromptVersionsResponse:
        raise Unimplemented(f"Prompts.ListPromptVersions: {PROMPT_REGISTRY_MISSING}")

    async def SetLabel(self, request: pb.SetLabelRequest, context: grpc.aio.ServicerContext) -> pb.PromptVersion:
        raise Unimplemented(f"Prompts.SetLabel: {PROMPT_REGISTRY_MISSING}")

    async def Rollback(self, request: pb.RollbackRequest, context: grpc.aio.ServicerContext) -> pb.PromptVersion:
        raise Unimplemented(f"Prompts.Rollback: {PROMPT_REGISTRY_MISSING}")
