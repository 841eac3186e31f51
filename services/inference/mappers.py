"""protobuf ↔ domain conversion for inference."""

from __future__ import annotations

from llmops.api.common.v1 import common_pb2
from llmops.api.inference.v1 import inference_pb2 as pb
from services.inference.core import Completion, FinishReason, Limits, Message, Parameters, validate_parameters

_FINISH = {FinishReason.STOP: pb.FINISH_REASON_STOP, FinishReason.LENGTH: pb.FINISH_REASON_LENGTH}


def messages_from_pb(request: pb.GenerateRequest) -> list[Message]:
    return [Message(role=m.role, content=m.content) for m in request.messages.messages]


def parameters_from_pb(params: common_pb2.GenerationParameters, limits: Limits) -> Parameters:
    return validate_parameters(
        params.max_tokens,
        params.temperature,
        params.top_p,
        params.top_k,
        params.seed,
        list(params.stop_words),
        limits,
        params.repetition_penalty,
    )


def completion_to_pb(completion: Completion) -> pb.GenerateResponse:
    u = completion.usage
    return pb.GenerateResponse(
        text=completion.text,
        model=completion.model,
        usage=common_pb2.TokenUsage(
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            total_tokens=u.total_tokens,
            cost_usd=u.cost_usd,
        ),
        finish_reason=_FINISH[completion.finish_reason],
        time_to_first_token_ms=completion.time_to_first_token_ms,
        generate_ms=completion.generate_ms,
    )
