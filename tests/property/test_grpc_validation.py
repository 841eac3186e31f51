"""Every RPC of the platform, driven with generated requests: each answers, or refuses with a clear domain error.

The servicers are the real ones (`tests/property/servicers.py` says which app each gets), called directly with a
generated protobuf request and a fake `grpc.aio.ServicerContext`. Two stand-ins stop at the app's first step
because the real app needs servers: for `Assistant.Ask`/`AskStream` what is tested is the servicer's call of
`gateway.core.validate_question`, for `Retrieval.Search` its call of `retrieval.core.validate`.

Properties, per RPC: any request (valid, valid but for one field, or arbitrary: empty, blank, control, invisible
and bidi characters, tens of kilobytes, NaN and infinities, negative and extreme integers, unknown enum values,
repeated fields too long) is answered, or refused with a `DomainError` of a status the RPC documents and a
non-empty message; no other exception escapes (the error interceptor would turn it into INTERNAL); what is accepted
is within the documented bounds, and what is published survives the bus's decoding. This module drives the question
path (Assistant, Retrieval, Embedding, Inference, Guardrails); `_prompts`, `_documents` and `_records` the
rest. Refusals of megabyte inputs, and their size on the wire, are `test_grpc_error_messages.py`'s subject.

Bugs these tests found were fixed; each test names the function it guards and a minimal example, and
the marker must go.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from llmops.api.common.v1 import common_pb2
from llmops.api.embedding.v1 import embedding_pb2
from llmops.api.gateway.v1 import gateway_pb2
from llmops.api.guardrails.v1 import guardrails_pb2
from llmops.api.inference.v1 import inference_pb2
from llmops.api.retrieval.v1 import retrieval_pb2
from llmops.prompts.builtin import RAG_PROMPT
from llmops.security.roles import PLATFORM_RULES
from services.gateway.core import Question
from services.retrieval.core import MAX_QUERY_CHARS, MAX_TOP_K, SearchQuery
from tests.property.fakes import check_refusal
from tests.property.servicers import (
    BULK_APPLICATION,
    EMBEDDING_DIMENSIONS,
    INVALID,
    MISSING,
    rpc,
    tenant_of,
)
from tests.property.strategies import (
    PROPERTY,
    callers,
    enum_values,
    floats,
    good_metadata,
    int32s,
    names,
    one_field_off,
    sentences,
    texts,
    valid_parameters,
    wild_parameters,
)

pytestmark = [pytest.mark.unit, pytest.mark.property]

RPCS = {
    "gateway.v1.Assistant": ("Ask", "AskStream"),
    "retrieval.v1.Retrieval": ("Search",),
    "embedding.v1.Embedding": ("Embed",),
    "inference.v1.Inference": ("Generate", "GenerateStream"),
    "inference.v1.Prompts": (
        "CreatePromptVersion", "GetPrompt", "ListPromptVersions", "ListPrompts", "SetLabel", "Rollback", "SetSplit",
    ),
    "ingestion.v1.Ingestion": (
        "Ingest", "IngestStream", "GetDocument", "ListDocuments", "DeleteDocument", "CreateDatasetVersion",
        "ListDatasetVersions",
    ),
    "guardrails.v1.Guardrails": ("CheckInput", "CheckOutput", "CheckDocument", "GetPolicy"),
    "feedback.v1.Feedback": ("Submit", "Evaluate", "CheckPromotion", "ExportTrainingData", "GetQualityReport"),
    "audit.v1.Audit": ("Query", "Export", "GetTreeHead", "GetInclusionProof", "GetConsistencyProof", "Erase"),
}  # fmt: skip
"""Every RPC, by service: the question path is driven here, the rest in `test_grpc_validation_{prompts,documents,
records}.py`."""


def test_the_properties_cover_every_rpc_in_the_access_table() -> None:
    """Each method PLATFORM_RULES lists (the whole external API) is driven by a property of these modules."""
    covered = {f"/llmops.api.{service}/{method}" for service, methods in RPCS.items() for method in methods}
    assert covered == set(PLATFORM_RULES)


# --- Assistant -------------------------------------------------------------------------------------------------

ask_requests = one_field_off(
    gateway_pb2.AskRequest,
    valid={
        "query": sentences,
        "dataset": st.sampled_from(["", "hr", " hr "]),
        "top_k": st.integers(0, 10),
        "prompt_name": st.sampled_from(["", RAG_PROMPT, " faq "]),
        "prompt_label": st.sampled_from(["", "production", "staging"]),
        "parameters": valid_parameters,
        "session_id": texts(40),
        "metadata": st.dictionaries(texts(20, long=50), texts(20, long=50), max_size=4),
        "prompt_version": st.integers(0, 3),
        "model": st.sampled_from(["", "small"]),
        "bypass_cache": st.booleans(),
    },
    wild={
        "query": texts(),
        "dataset": texts(40),
        "top_k": int32s(),
        "prompt_name": names(),
        "prompt_label": names(),
        "parameters": wild_parameters,
        "prompt_version": int32s(),
        "model": names(),
    },
)


@pytest.mark.parametrize("method", ["Ask", "AskStream"])
@PROPERTY
@given(request=ask_requests, headers=callers())
def test_a_question_is_refused_or_reaches_the_app_within_bounds(runner, platform, method, request, headers) -> None:
    """Assistant.Ask/AskStream (`validate_question`): the app sees a stripped, non-blank question of at most
    `max_query_chars`, numbers in range, and the caller's tenant."""
    outcome = rpc(runner, getattr(platform.assistant, method), request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        return
    principal, question = outcome.reached
    assert isinstance(question, Question)
    limits = platform.assistant.limits
    assert question.text == request.query.strip() and 0 < len(question.text) <= limits.max_query_chars
    assert 1 <= question.top_k <= limits.max_top_k and 1 <= question.max_tokens <= limits.max_tokens
    assert 0.0 <= question.temperature <= 2.0 and question.prompt_version >= 0
    assert principal.tenant == tenant_of(headers)


# --- Retrieval -------------------------------------------------------------------------------------------------

search_requests = one_field_off(
    retrieval_pb2.SearchRequest,
    valid={
        "query": sentences,
        "dataset": st.sampled_from(["", "hr"]),
        "top_k": st.integers(0, MAX_TOP_K),
        "score_threshold": st.floats(-1.0, 1.0, width=32),
        "hybrid": st.booleans(),
        "mmr": st.booleans(),
        "query_vector": st.just([]) | st.lists(st.floats(-1.0, 1.0, width=32), min_size=4, max_size=4),
    },
    wild={
        "query": texts(),
        "dataset": texts(40),
        "top_k": int32s(),
        "score_threshold": floats(32),
        "query_vector": st.lists(floats(32), max_size=6),
    },
)


@PROPERTY
@given(request=search_requests, headers=callers())
def test_a_search_is_refused_or_reaches_the_index_within_bounds(runner, platform, request, headers) -> None:
    """Retrieval.Search (`retrieval.core.validate`): the index sees text, a top_k in range, a threshold in
    [-1, 1] and a finite vector of the index's dimensions (or none), scoped to the caller's tenant."""
    outcome = rpc(runner, platform.retrieval.Search, request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        return
    (query,) = outcome.reached
    assert isinstance(query, SearchQuery)
    assert 0 < len(query.text) <= MAX_QUERY_CHARS and 1 <= query.top_k <= MAX_TOP_K
    assert query.score_threshold is None or -1.0 <= query.score_threshold <= 1.0
    assert len(query.vector) in (0, EMBEDDING_DIMENSIONS) and all(math.isfinite(x) for x in query.vector)
    assert query.scope.tenant == tenant_of(headers)


# --- Embedding -------------------------------------------------------------------------------------------------

embed_requests = one_field_off(
    embedding_pb2.EmbedRequest,
    valid={"texts": st.lists(sentences, min_size=1, max_size=5), "kind": st.integers(0, 2)},
    wild={
        "texts": st.lists(texts(50, long=10_000), max_size=6)
        | st.builds(lambda n, t: [t] * n, st.integers(0, 400), st.sampled_from(["q", " ", "é" * 9000])),
        "kind": enum_values(2),
    },
)


@PROPERTY
@given(request=embed_requests)
def test_embedding_answers_one_vector_per_text_or_refuses(runner, platform, request) -> None:
    """Embedding.Embed: 1-256 non-blank texts of at most 8,192 characters get one vector each."""
    outcome = rpc(runner, platform.embedding.Embed, request)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        return
    assert 1 <= len(request.texts) <= 256
    assert len(outcome.response.vectors) == len(request.texts)
    assert outcome.response.dimensions == EMBEDDING_DIMENSIONS


# --- Inference -------------------------------------------------------------------------------------------------

valid_chats = st.lists(
    st.builds(inference_pb2.ChatMessage, role=st.sampled_from(["system", "user", "assistant"]), content=sentences),
    max_size=3,
).map(lambda turns: [*turns, inference_pb2.ChatMessage(role="user", content="And in March?")])
wild_chats = st.lists(
    st.builds(
        inference_pb2.ChatMessage, role=st.sampled_from(["user", "System"]) | names(), content=texts(long=40_000)
    ),
    max_size=4,
)
valid_prompt_refs = st.builds(
    inference_pb2.PromptRef,
    name=st.just(RAG_PROMPT),
    label=st.sampled_from(["", "production"]),
    version=st.integers(0, 1),
    variables=st.fixed_dictionaries({"sources": texts(100, long=1000), "question": sentences}),
)
wild_prompt_refs = st.builds(
    inference_pb2.PromptRef,
    name=names((RAG_PROMPT, "faq")),
    label=names(("production", "staging")),
    version=int32s(),
    variables=st.dictionaries(st.sampled_from(["sources", "question", "q"]) | names(), texts(long=10_000), max_size=3),
)


def generate_request(input_: tuple[str, object], **fields: object) -> inference_pb2.GenerateRequest:
    """A GenerateRequest with `messages`, `prompt` or neither set."""
    request = inference_pb2.GenerateRequest(**fields)  # type: ignore[arg-type]
    kind, value = input_
    if kind == "messages":
        request.messages.messages.extend(value)  # type: ignore[arg-type]
    elif kind == "prompt":
        request.prompt.CopyFrom(value)  # type: ignore[arg-type]
    return request


generate_requests = one_field_off(
    generate_request,
    valid={
        "input_": st.tuples(st.just("messages"), valid_chats) | st.tuples(st.just("prompt"), valid_prompt_refs),
        "parameters": valid_parameters,
        "model": st.sampled_from(["", "small", " small "]),
        "request_id": texts(40),
        "canary": st.sampled_from(["", "canary-0123456789"]),
    },
    wild={
        "input_": st.tuples(st.just("messages"), wild_chats)
        | st.tuples(st.just("prompt"), wild_prompt_refs)
        | st.just(("neither", None)),
        "parameters": wild_parameters,
        "model": names(("small",)),
        "canary": st.from_regex(r"[A-Za-z0-9-]{0,70}", fullmatch=True) | texts(80),
    },
)


@pytest.mark.parametrize("method", ["Generate", "GenerateStream"])
@PROPERTY
@given(request=generate_requests, headers=callers())
def test_generation_answers_or_refuses(runner, platform, method, request, headers) -> None:
    """Inference.Generate/GenerateStream: messages or a registered prompt are generated from, or refused (NOT_FOUND
    for a prompt, label or version that does not exist)."""
    outcome = rpc(runner, getattr(platform.inference, method), request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, MISSING)
        return
    done = outcome.response if method == "Generate" else outcome.response[-1].done
    assert (done.model, done.text) == ("small-v1", "A short answer.")


# --- Guardrails ------------------------------------------------------------------------------------------------

applications = st.sampled_from(["", BULK_APPLICATION, "support"]) | texts(40)
guarded_texts = sentences | texts(300, long=3000)
guardrail_calls = st.one_of(
    st.builds(
        lambda t, a: ("CheckInput", guardrails_pb2.CheckInputRequest(text=t, application=a)),
        guarded_texts,
        applications,
    ),
    st.builds(
        lambda t, a: ("CheckDocument", guardrails_pb2.CheckDocumentRequest(text=t, application=a)),
        guarded_texts,
        applications,
    ),
    st.builds(
        lambda t, sources, canary, a: (
            "CheckOutput",
            guardrails_pb2.CheckOutputRequest(
                answer=t, sources=[common_pb2.Chunk(text=s) for s in sources], canary=canary, application=a
            ),
        ),
        guarded_texts,
        st.lists(sentences | texts(200, long=2000), max_size=4),
        st.sampled_from(["", "canary-0123456789"]) | texts(40),
        applications,
    ),
)


@PROPERTY
@given(call_=guardrail_calls, headers=callers())
def test_a_guardrail_check_gives_a_verdict_or_refuses(runner, platform, call_, headers) -> None:
    """Guardrails.CheckInput, CheckOutput, CheckDocument, under the default policy's every scanner: a verdict
    (allow, redact with the text to continue with, or block) under a named policy, or INVALID_ARGUMENT."""
    method, request = call_
    outcome = rpc(runner, getattr(platform.guardrails, method), request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        return
    verdict = outcome.response
    assert verdict.action in (guardrails_pb2.ACTION_ALLOW, guardrails_pb2.ACTION_REDACT, guardrails_pb2.ACTION_BLOCK)
    assert verdict.policy_id and verdict.policy_version >= 1
    if verdict.action != guardrails_pb2.ACTION_REDACT:
        assert not verdict.redacted_text


policy_requests = st.builds(
    guardrails_pb2.GetPolicyRequest, tenant=st.sampled_from(["", "acme"]) | texts(40), application=applications
)


@PROPERTY
@given(request=policy_requests, headers=callers())
def test_a_policy_is_shown_to_its_own_tenant_only(runner, platform, request, headers) -> None:
    """Guardrails.GetPolicy: the policy of the caller's tenant, or NOT_FOUND for any other tenant named."""
    outcome = rpc(runner, platform.guardrails.GetPolicy, request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, MISSING)
        if outcome.error.status == "NOT_FOUND":
            assert request.tenant and request.tenant != tenant_of(headers)
        return
    assert outcome.response.policy_id and outcome.response.version >= 1


# --- known bugs ------------------------------------------------------------------------------------------------


@PROPERTY
@given(value=st.binary(min_size=1, max_size=64))
@example(value=b"\xff")
def test_binary_metadata_of_any_content_leaves_the_call_unharmed(runner, platform, value) -> None:
    """Assistant.Ask with an unrelated binary header (`x-trace-bin`, delivered by grpc as bytes) behaves as without.

    Minimal example: metadata ("x-trace-bin", b"\\xff")."""
    request = gateway_pb2.AskRequest(query="How many days of leave?")
    outcome = rpc(runner, platform.assistant.Ask, request, [*good_metadata(), ("x-trace-bin", value)])
    assert outcome.reached
