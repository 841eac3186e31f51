"""Feedback's five and Audit's six RPCs with generated requests: ratings are stored and announced once, reports,
exports, pages, proofs and erasures answer or refuse with a documented status, whatever the numbers, times and
texts. The servicers run on their real apps and SQLite stores (`servicers.py`); see `test_grpc_validation.py` for
the properties every RPC is held to."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import example, given
from hypothesis import strategies as st

from llmops.api.audit.v1 import audit_pb2
from llmops.api.common.v1 import common_pb2
from llmops.api.feedback.v1 import feedback_pb2
from llmops.events import EVENT_TYPES, FeedbackReceived
from llmops.prompts.builtin import RAG_PROMPT
from services.audit.core import GUARDRAIL_ACTIONS
from tests.property.fakes import check_refusal
from tests.property.servicers import (
    INVALID,
    KNOWN_INTERACTIONS,
    MISSING,
    REFUSED,
    SEEDED_AUDIT_RECORDS,
    rpc,
    tenant_of,
)
from tests.property.strategies import (
    PROPERTY,
    callers,
    enum_values,
    int32s,
    int64s,
    names,
    one_field_off,
    pages,
    texts,
    time_ranges,
    timestamps,
)

pytestmark = [pytest.mark.unit, pytest.mark.property]

# --- Feedback --------------------------------------------------------------------------------------------------

GOLDEN_SET = "cpython-docs-v1"


def submit_request(interaction_id: str, rating: tuple[str, object], **fields: object) -> feedback_pb2.SubmitRequest:
    request = feedback_pb2.SubmitRequest(interaction_id=interaction_id, **fields)  # type: ignore[arg-type]
    kind, value = rating
    if kind == "thumbs":
        request.thumbs_up = bool(value)
    elif kind == "stars":
        request.stars = int(value)  # type: ignore[call-overload]
    return request


submit_requests = one_field_off(
    submit_request,
    valid={
        "interaction_id": st.sampled_from(KNOWN_INTERACTIONS),
        "rating": st.tuples(st.just("thumbs"), st.booleans()) | st.tuples(st.just("stars"), st.integers(1, 5)),
        "categories": st.lists(st.integers(1, 4), max_size=4),
        "comment": texts(200, long=4000),
        "corrected_answer": texts(200, long=16_000),
    },
    wild={
        "interaction_id": texts(40),
        "rating": st.tuples(st.just("stars"), int32s()) | st.just(("none", None)),
        "categories": st.lists(enum_values(4), max_size=6)
        | st.builds(lambda n, c: [c] * n, st.integers(0, 1000), enum_values(4)),
        "comment": texts(long=8000),
        "corrected_answer": texts(long=40_000),
    },
)


@PROPERTY
@given(request=submit_requests, headers=callers())
def test_feedback_is_stored_and_announced_or_refused(runner, platform, request, headers) -> None:
    """Feedback.Submit: a rating of a known interaction of the caller's tenant is announced once, normalised to
    [0, 1] with known, distinct categories; anything else is INVALID_ARGUMENT or NOT_FOUND."""
    outcome = rpc(runner, platform.feedback.Submit, request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, MISSING)
        return
    announced = [
        e
        for e in platform.buses["feedback"].events
        if isinstance(e, FeedbackReceived) and e.feedback_id == outcome.response.feedback_id
    ]
    assert len(announced) == 1 and announced[0].tenant == tenant_of(headers)
    assert 0.0 <= announced[0].rating <= 1.0
    assert len(set(announced[0].categories)) == len(announced[0].categories) <= 4


feedback_calls = st.one_of(
    st.builds(
        lambda g, gv, p, pv, m: (
            "Evaluate",
            feedback_pb2.EvaluateRequest(
                golden_set=g, golden_set_version=gv, prompt_name=p, prompt_version=pv, model=m
            ),
        ),
        st.sampled_from([GOLDEN_SET, "missing-set"]) | names(),
        st.just("") | texts(70),
        st.sampled_from(["", RAG_PROMPT]) | texts(40),
        int32s(),
        st.sampled_from(["", "small"]) | texts(40),
    ),
    st.builds(
        lambda p, c, pv, g: (
            "CheckPromotion",
            feedback_pb2.CheckPromotionRequest(prompt_name=p, candidate_version=c, production_version=pv, golden_set=g),
        ),
        st.sampled_from(["", RAG_PROMPT]) | texts(40),
        int32s(),
        int32s(),
        st.sampled_from(["", GOLDEN_SET]) | names(),
    ),
    st.builds(
        lambda since, system: (
            "ExportTrainingData",
            feedback_pb2.ExportTrainingDataRequest(since=since, system_prompt=system),
        ),
        st.none() | timestamps,
        texts(long=5000),
    ),
    st.builds(
        lambda r, p: ("GetQualityReport", feedback_pb2.GetQualityReportRequest(range=r, prompt_name=p)),
        time_ranges,
        st.sampled_from(["", RAG_PROMPT]) | texts(40),
    ),
)


@PROPERTY
@given(call_=feedback_calls, headers=callers())
def test_feedback_queries_answer_or_refuse(runner, platform, call_, headers) -> None:
    """Feedback.Evaluate (no gateway here: FAILED_PRECONDITION once the request is valid), CheckPromotion,
    ExportTrainingData, GetQualityReport: an answer, or INVALID_ARGUMENT / NOT_FOUND (a golden set that does not
    exist) / FAILED_PRECONDITION."""
    method, request = call_
    outcome = rpc(runner, getattr(platform.feedback, method), request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, REFUSED)
        return
    if method == "ExportTrainingData":
        *chunks, last = outcome.response
        assert len(last.dataset_version) == 64 and last.examples == sum(c.jsonl.count(b"\n") for c in chunks)
    elif method == "CheckPromotion":
        assert outcome.response.allowed or outcome.response.reason
    elif method == "GetQualityReport":
        metrics = {m.name: m.value for m in outcome.response.metrics}
        assert (metrics["interactions"], metrics["feedback"]) == (
            outcome.response.interactions,
            outcome.response.feedback,
        )


# --- Audit -----------------------------------------------------------------------------------------------------

query_requests = one_field_off(
    audit_pb2.QueryRequest,
    valid={
        "range": st.builds(common_pb2.TimeRange),
        "tenant": st.sampled_from(["", "acme", "globex"]),
        "user": st.sampled_from(["", "ana"]),
        "event_types": st.lists(st.sampled_from(sorted(EVENT_TYPES)), max_size=3),
        "interaction_id": st.sampled_from(["", "i-acme-1"]),
        "document_id": st.sampled_from(["", "d"]),
        "page": st.builds(common_pb2.PageRequest, page_size=st.integers(0, 5), page_token=st.sampled_from(["", "1"])),
        "model": st.sampled_from(["", "small-v1"]),
        "prompt_name": st.sampled_from(["", RAG_PROMPT]),
        "prompt_version": st.integers(0, 2),
        "guardrail_action": st.sampled_from([*GUARDRAIL_ACTIONS, " block "]),
    },
    wild={
        "range": time_ranges,
        "tenant": texts(40),
        "user": texts(40),
        "event_types": st.lists(texts(40), max_size=5),
        "interaction_id": texts(40),
        "page": pages,
        "prompt_version": int32s(),
        "guardrail_action": st.sampled_from(["BLOCK", "allow"]) | texts(40),
    },
)


@PROPERTY
@given(request=query_requests, headers=callers())
def test_an_audit_query_pages_through_the_log_or_refuses(runner, platform, request, headers) -> None:
    """Audit.Query: a page of at most page_size records in log order, with a numeric next-page token (empty on the
    last page), or INVALID_ARGUMENT."""
    outcome = rpc(runner, platform.audit.Query, request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        return
    records = outcome.response.records
    assert len(records) <= (request.page.page_size or 100)
    assert [r.sequence for r in records] == sorted(r.sequence for r in records)
    assert outcome.response.next_page_token == "" or outcome.response.next_page_token.isdecimal()


@PROPERTY
@given(request=query_requests, headers=callers())
def test_an_audit_export_starts_with_a_signed_head_or_refuses(runner, platform, request, headers) -> None:
    """Audit.Export: JSON lines, the signed tree head first, then every matching record with its proof; or
    INVALID_ARGUMENT."""
    outcome = rpc(runner, platform.audit.Export, audit_pb2.ExportRequest(query=request), headers)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        return
    lines = b"".join(chunk.jsonl for chunk in outcome.response).decode().splitlines()
    head = json.loads(lines[0])["tree_head"]
    assert head["tree_size"] >= SEEDED_AUDIT_RECORDS
    assert len(lines) - 1 == outcome.response[-1].records


proof_calls = st.one_of(
    st.builds(lambda n: ("GetTreeHead", audit_pb2.GetTreeHeadRequest(tree_size=n)), st.integers(0, 8) | int64s()),
    st.builds(
        lambda s, n: ("GetInclusionProof", audit_pb2.GetInclusionProofRequest(sequence=s, tree_size=n)),
        st.integers(-1, 8) | int64s(),
        st.integers(0, 8) | int64s(),
    ),
    st.builds(
        lambda a, b: ("GetConsistencyProof", audit_pb2.GetConsistencyProofRequest(first_size=a, second_size=b)),
        st.integers(0, 8) | int64s(),
        st.integers(0, 8) | int64s(),
    ),
    st.builds(
        lambda s, r: ("Erase", audit_pb2.EraseRequest(data_subject=s, reason=r)),
        st.sampled_from(["", "ana", "bo"]) | texts(40),
        st.sampled_from(["", "GDPR-17"]) | texts(40),
    ),
)


@PROPERTY
@given(call_=proof_calls, headers=callers())
def test_audit_proofs_and_erasure_answer_or_refuse(runner, platform, call_, headers) -> None:
    """Audit.GetTreeHead, GetInclusionProof, GetConsistencyProof, Erase: any int64 sizes and positions, and any
    texts, are answered or refused with INVALID_ARGUMENT (NOT_FOUND: no head was signed at that size)."""
    method, request = call_
    outcome = rpc(runner, getattr(platform.audit, method), request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, MISSING)
        return
    response = outcome.response
    if method == "GetTreeHead":
        assert response.tree_size >= 1 and len(response.signature) == 64
    elif method == "GetInclusionProof":
        assert 0 <= response.leaf_index < response.tree_size
    elif method == "GetConsistencyProof":
        assert 0 < response.first_size <= response.second_size
    else:
        assert response.keys_destroyed >= 0


# --- known bugs ------------------------------------------------------------------------------------------------

out_of_range_timestamps = st.one_of(
    st.builds(Timestamp, seconds=st.integers(253402300800, 2**63 - 1) | st.integers(-(2**63), -62135596801)),
    st.builds(Timestamp, nanos=st.integers(-(2**31), -1) | st.integers(1_000_000_000, 2**31 - 1)),
)


def _with_bad_time(method: str, stamp: Timestamp) -> object:
    if method in ("Query", "Export"):
        query = audit_pb2.QueryRequest(range=common_pb2.TimeRange(start=stamp))
        return query if method == "Query" else audit_pb2.ExportRequest(query=query)
    if method == "ExportTrainingData":
        return feedback_pb2.ExportTrainingDataRequest(since=stamp)
    return feedback_pb2.GetQualityReportRequest(range=common_pb2.TimeRange(end=stamp))


@pytest.mark.parametrize(
    ("service", "method"),
    [
        pytest.param("audit", "Query"),
        pytest.param("audit", "Export"),
        pytest.param("feedback", "ExportTrainingData"),
        pytest.param("feedback", "GetQualityReport"),
    ],
)
@PROPERTY
@given(stamp=out_of_range_timestamps)
@example(stamp=Timestamp(seconds=253402300800))  # minimal: 10000-01-01T00:00:00Z
def test_a_time_no_datetime_can_hold_is_refused(runner, platform, service, method, stamp) -> None:
    """Timestamps past year 9999 or before year 1, or with nanos out of range, are INVALID_ARGUMENT."""
    outcome = rpc(runner, getattr(getattr(platform, service), method), _with_bad_time(method, stamp))
    assert outcome.error is not None
    check_refusal(outcome.error, INVALID)
