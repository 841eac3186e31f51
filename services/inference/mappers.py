"""protobuf ↔ domain conversion for inference."""

from __future__ import annotations

from collections.abc import Iterable

from llmops.api.common.v1 import common_pb2
from llmops.api.inference.v1 import inference_pb2 as pb
from llmops.prompts.core import DEFAULT_VARIABLE_MAX_CHARS, ModelParameters, PromptHead, PromptVersion, Variable
from llmops.timestamps import to_timestamp
from services.inference.core import Completion, FinishReason, Limits, Message, Parameters, validate_parameters
from services.inference.prompts import Draft

_FINISH = {FinishReason.STOP: pb.FINISH_REASON_STOP, FinishReason.LENGTH: pb.FINISH_REASON_LENGTH}


def messages_from_pb(request: pb.GenerateRequest) -> list[Message]:
    return [Message(role=m.role, content=m.content) for m in request.messages.messages]


def parameters_from_pb(
    params: common_pb2.GenerationParameters, limits: Limits, defaults: ModelParameters | None = None
) -> Parameters:
    """The caller's parameters; a zero (unset) field takes the prompt version's value, then the service default."""
    d = defaults or ModelParameters()
    return validate_parameters(
        params.max_tokens or d.max_tokens,
        params.temperature or d.temperature,
        params.top_p or d.top_p,
        params.top_k or d.top_k,
        params.seed or d.seed,
        list(params.stop_words) or d.stop_words,
        limits,
        params.repetition_penalty or d.repetition_penalty,
        params.return_log_probs,
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
        prompt_name=completion.prompt.name,
        prompt_version=completion.prompt.version,
        prompt_label=completion.prompt.label,
        route=completion.route,
        failed_models=completion.failed_models,
        log_probs=pb.LogProbs(token_log_probs=completion.log_probs, cumulative=completion.cum_log_prob)
        if completion.cum_log_prob is not None
        else None,
        model_metrics=dict(completion.model_metrics),
    )


# --- prompt registry -----------------------------------------------------------------------------------------


def variables_from_pb(variables: Iterable[pb.PromptVariable]) -> list[Variable]:
    return [
        Variable(
            name=v.name,
            description=v.description,
            required=not v.optional,
            default=v.default,
            max_chars=v.max_chars or DEFAULT_VARIABLE_MAX_CHARS,
        )
        for v in variables
    ]


def model_parameters_from_pb(params: common_pb2.GenerationParameters) -> ModelParameters:
    return ModelParameters(
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k,
        seed=params.seed,
        stop_words=list(params.stop_words),
        repetition_penalty=params.repetition_penalty,
    )


def draft_from_pb(request: pb.CreatePromptVersionRequest) -> Draft:
    return Draft(
        name=request.name.strip(),
        template=request.template,
        system=request.system,
        variables=variables_from_pb(request.variables),
        parameters=model_parameters_from_pb(request.parameters),
        model=request.model.strip(),
        description=request.description.strip(),
        labels=[label.strip() for label in request.labels],
    )


def prompt_version_to_pb(version: PromptVersion, head: PromptHead) -> pb.PromptVersion:
    p = version.parameters
    return pb.PromptVersion(
        name=version.name,
        version=version.version,
        template=version.template,
        variables=[
            pb.PromptVariable(
                name=v.name,
                description=v.description,
                optional=not v.required,
                default=v.default,
                max_chars=v.max_chars,
            )
            for v in version.variables
        ],
        parameters=common_pb2.GenerationParameters(
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            top_k=p.top_k,
            seed=p.seed,
            stop_words=p.stop_words,
            repetition_penalty=p.repetition_penalty,
        ),
        model=version.model,
        labels=head.labels_of(version.version) if head.tenant == version.tenant else [],
        created_by=version.created_by,
        created_at=to_timestamp(version.created_at),
        description=version.description,
        system=version.system,
        tenant=version.tenant,
    )


def prompt_summary_to_pb(head: PromptHead) -> pb.PromptSummary:
    current = {label: stack[-1] for label, stack in head.labels.items() if stack}
    return pb.PromptSummary(
        name=head.name, tenant=head.tenant, latest_version=head.latest, labels=current, split=head.split
    )
