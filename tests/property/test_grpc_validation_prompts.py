"""Prompts' seven RPCs with generated requests: a version the registry accepts it serves again unchanged; every
other call answers or refuses with INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION (PERMISSION_DENIED for the
platform's `_` tenants). The servicer runs on the real registry and store (`servicers.py`); see
`test_grpc_validation.py` for the properties every RPC is held to."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.api.common.v1 import common_pb2
from llmops.api.inference.v1 import inference_pb2
from llmops.prompts.builtin import RAG_PROMPT
from tests.property.fakes import check_refusal
from tests.property.servicers import (
    INVALID,
    REFUSED,
    rpc,
    tenant_of,
)
from tests.property.strategies import (
    PROPERTY,
    callers,
    floats,
    good_metadata,
    int32s,
    names,
    one_field_off,
    texts,
    valid_parameters,
    wild_parameters,
)

pytestmark = [pytest.mark.unit, pytest.mark.property]

create_requests = one_field_off(
    inference_pb2.CreatePromptVersionRequest,
    valid={
        "name": st.from_regex(r"p-[a-z0-9]{1,6}", fullmatch=True),
        "template": st.builds(lambda s: f"{s.replace('{', '(')} {{{{q}}}}", st.text(max_size=80)),
        "variables": st.builds(
            lambda default, optional, max_chars: [
                inference_pb2.PromptVariable(name="q", default=default, optional=optional, max_chars=max_chars)
            ],
            st.text(max_size=20),
            st.booleans(),
            st.sampled_from([0, 20, 50_000]),
        ),
        "parameters": valid_parameters,
        "model": st.sampled_from(["", "small"]),
        "description": texts(60),
        "system": st.sampled_from(["", "Be brief.", "Answer {{ q }} briefly."]),
        "labels": st.lists(st.sampled_from(["staging", "canary"]), max_size=2),
    },
    wild={
        "name": names(("faq", RAG_PROMPT)),
        "template": texts(long=40_000),
        "variables": st.lists(
            st.builds(
                inference_pb2.PromptVariable,
                name=st.sampled_from(["q", "question"]) | names(),
                description=texts(40),
                optional=st.booleans(),
                default=texts(long=60_000),
                max_chars=int32s(),
            ),
            max_size=4,
        ),
        "parameters": wild_parameters,
        "model": names(("small",)),
        "system": texts(),
        "labels": st.lists(names(("staging", "production")), max_size=3),
    },
)


def prompt_statuses(headers: list[tuple[str, str]]) -> frozenset[str]:
    """Prompts refuse with INVALID_ARGUMENT, NOT_FOUND or FAILED_PRECONDITION; `_` tenants are the platform's."""
    return REFUSED | ({"PERMISSION_DENIED"} if tenant_of(headers).startswith("_") else set())


@PROPERTY
@given(request=create_requests, headers=callers())
def test_a_created_prompt_version_reads_back_as_it_was_created(runner, platform, request, headers) -> None:
    """Prompts.CreatePromptVersion, then GetPrompt: what the registry accepted, it serves again unchanged.

    NaN parameters have their own test below (they were once accepted and could not be read back)."""
    if math.isnan(request.parameters.repetition_penalty):
        request.parameters.repetition_penalty = 0.0
    outcome = rpc(runner, platform.prompts.CreatePromptVersion, request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, prompt_statuses(headers))
        return
    created = outcome.response
    read = inference_pb2.GetPromptRequest(name=created.name, version=created.version)
    again = rpc(runner, platform.prompts.GetPrompt, read, headers)
    assert again.error is None, again.error
    assert (again.response.template, again.response.parameters) == (created.template, created.parameters)


def test_a_prompt_version_with_a_nan_parameter_is_refused_or_readable(runner, platform) -> None:
    """Minimal example: CreatePromptVersion(name='nan-penalty', template='x', parameters.repetition_penalty=NaN)."""
    params = common_pb2.GenerationParameters(repetition_penalty=math.nan)
    create = inference_pb2.CreatePromptVersionRequest(name="nan-penalty", template="x", parameters=params)
    created = rpc(runner, platform.prompts.CreatePromptVersion, create)
    if created.error is not None:
        check_refusal(created.error, INVALID)
        return
    again = rpc(runner, platform.prompts.GetPrompt, inference_pb2.GetPromptRequest(name="nan-penalty", version=1))
    assert again.error is None


prompt_names = st.sampled_from(["faq", RAG_PROMPT, " faq "]) | names(("missing",))
label_names = st.sampled_from(["production", "staging"]) | names(("canary",))
prompt_calls = st.one_of(
    st.builds(
        lambda n, la, v: ("GetPrompt", inference_pb2.GetPromptRequest(name=n, label=la, version=v)),
        prompt_names,
        label_names | st.just(""),
        st.integers(0, 2) | int32s(),
    ),
    st.builds(lambda n: ("ListPromptVersions", inference_pb2.ListPromptVersionsRequest(name=n)), prompt_names),
    st.just(("ListPrompts", inference_pb2.ListPromptsRequest())),
    st.builds(
        lambda n, la, v, r: ("SetLabel", inference_pb2.SetLabelRequest(name=n, label=la, version=v, reason=r)),
        prompt_names,
        label_names,
        st.integers(0, 2) | int32s(),
        texts(40),
    ),
    st.builds(
        lambda n, la, r: ("Rollback", inference_pb2.RollbackRequest(name=n, label=la, reason=r)),
        prompt_names,
        label_names | st.just(""),
        st.just("regression") | texts(40),
    ),
    st.builds(
        lambda n, w, r: ("SetSplit", inference_pb2.SetSplitRequest(name=n, weights=w, reason=r)),
        prompt_names,
        st.dictionaries(label_names, st.floats(0.0, 10.0) | floats(), max_size=3),
        texts(40),
    ),
)


@PROPERTY
@given(call_=prompt_calls, headers=st.just(good_metadata("acme")) | callers())
def test_prompt_registry_calls_answer_or_refuse(runner, platform, call_, headers) -> None:
    """Prompts.GetPrompt, ListPromptVersions, ListPrompts, SetLabel, Rollback, SetSplit: an answer, or a refusal
    naming what is missing (NOT_FOUND) or not possible yet (FAILED_PRECONDITION: a split over a label that does
    not exist, a rollback with nothing to go back to); a split the registry keeps sums to 1."""
    method, request = call_
    outcome = rpc(runner, getattr(platform.prompts, method), request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, prompt_statuses(headers))
        return
    if method == "SetSplit" and outcome.response.split:
        assert math.isclose(sum(outcome.response.split.values()), 1.0)
        assert all(0 < w <= 1 for w in outcome.response.split.values())
