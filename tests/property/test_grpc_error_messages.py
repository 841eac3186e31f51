"""A megabyte in any one request field is answered, or refused with a message that fits a `grpc-message` trailer.

Each case fills one field of an otherwise valid request with a run of one character (ASCII, blank, 2-byte, bidi,
invisible, NUL, astral, a quote) 5,000 to 1,000,000 long, or a repeated field with that many entries, and calls the
real servicer (`servicers.py`). A refusal must be a DomainError of a caller's status whose message takes at most
`ERROR_WIRE_LIMIT` bytes on the wire: past 8 KiB a client receives RESOURCE_EXHAUSTED instead of the refusal, and
a log line per refusal carries the payload again. Cases that once echoed the offending value whole are kept by
name; the first example (1,000,000 × "x") is the minimal reproduction.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from llmops.api.audit.v1 import audit_pb2
from llmops.api.common.v1 import common_pb2
from llmops.api.embedding.v1 import embedding_pb2
from llmops.api.feedback.v1 import feedback_pb2
from llmops.api.gateway.v1 import gateway_pb2
from llmops.api.guardrails.v1 import guardrails_pb2
from llmops.api.inference.v1 import inference_pb2
from llmops.api.ingestion.v1 import ingestion_pb2
from llmops.api.retrieval.v1 import retrieval_pb2
from llmops.prompts.builtin import RAG_PROMPT
from tests.property.fakes import check_refusal
from tests.property.servicers import BULK_APPLICATION, KNOWN_INTERACTIONS, REFUSED, rpc
from tests.property.strategies import HUGE, HUGE_CHARACTERS

pytestmark = [pytest.mark.unit, pytest.mark.property]

CALLER_STATUSES = REFUSED | {"ALREADY_EXISTS"}
_unique = itertools.count()


NO_MARKS: tuple[()] = ()
# Each of these once echoed the offending value whole (`{value!r}` in an f-string); llmops.errors.DomainError now
# cuts any message that would not fit a gRPC status, so they are plain cases.
VALIDATE_NAME = ROUTING = CATALOG = RESOLVE = RENDER = REGISTRY_MODEL = VARIABLE_NAME = MESSAGE_ROLE = NO_MARKS
MIME_TYPE = DOCUMENT_ID = VERSION_NAME = POLICY_TENANT = INTERACTION = CATEGORIES = GOLDEN_VERSION = NO_MARKS
GUARDRAIL_ACTION = NO_MARKS


@dataclass(frozen=True)
class Case:
    """One field of one RPC, and how to build a request with `value` in it."""

    service: str
    method: str
    build: Callable[[str], Any]


def case(rpc_name: str, field: str, build: Callable[[str], Any], *history: tuple[()]) -> Any:
    """One RPC field; `history` names the function that once echoed it (documentation only, no marks)."""
    service, method = rpc_name.split(".")
    return pytest.param(Case(service, method, build), id=f"{rpc_name}-{field}")


def many(value: str) -> int:
    """Entries of a repeated field for a value: 50 to 10,000 (past every count limit, cheap to build)."""
    return len(value) // 100


def _chat(role: str = "user", content: str = "Hi", **fields: Any) -> inference_pb2.GenerateRequest:
    request = inference_pb2.GenerateRequest(**fields)
    request.messages.messages.append(inference_pb2.ChatMessage(role=role, content=content))
    return request


def _prompt(**ref: Any) -> inference_pb2.GenerateRequest:
    variables = {"sources": "[1] Staff get 28 days.", "question": "How many days?"}
    fields = {"name": RAG_PROMPT, "variables": variables, **ref}
    return inference_pb2.GenerateRequest(prompt=inference_pb2.PromptRef(**fields))


def _create(**fields: Any) -> inference_pb2.CreatePromptVersionRequest:
    base: dict[str, Any] = {"name": f"huge-{next(_unique)}", "template": "Answer: {{q}}"}
    base["variables"] = [inference_pb2.PromptVariable(name="q")]
    return inference_pb2.CreatePromptVersionRequest(**{**base, **fields})


def _ingest(content: bytes = b"Staff get 28 days.", **header: Any) -> ingestion_pb2.IngestRequest:
    fields = {"source_uri": f"kb://huge-{next(_unique)}.txt", **header}
    return ingestion_pb2.IngestRequest(header=ingestion_pb2.DocumentHeader(**fields), content=content)


def _submit(**fields: Any) -> feedback_pb2.SubmitRequest:
    return feedback_pb2.SubmitRequest(**{"interaction_id": KNOWN_INTERACTIONS[0], "thumbs_up": True, **fields})


def _query(**fields: Any) -> audit_pb2.QueryRequest:
    return audit_pb2.QueryRequest(**fields)


CASES = [
    case("assistant.Ask", "query", lambda v: gateway_pb2.AskRequest(query=v)),
    case("assistant.Ask", "dataset", lambda v: gateway_pb2.AskRequest(query="q?", dataset=v)),
    case("assistant.Ask", "prompt_name", lambda v: gateway_pb2.AskRequest(query="q?", prompt_name=v), VALIDATE_NAME),
    case("assistant.Ask", "prompt_label", lambda v: gateway_pb2.AskRequest(query="q?", prompt_label=v), VALIDATE_NAME),
    case("assistant.Ask", "model", lambda v: gateway_pb2.AskRequest(query="q?", model=v), VALIDATE_NAME),
    case("retrieval.Search", "query", lambda v: retrieval_pb2.SearchRequest(query=v)),
    case(
        "retrieval.Search",
        "query_vector",
        lambda v: retrieval_pb2.SearchRequest(query="q", query_vector=[0.5] * many(v)),
    ),
    case("embedding.Embed", "texts[0]", lambda v: embedding_pb2.EmbedRequest(texts=[v])),
    case("embedding.Embed", "texts", lambda v: embedding_pb2.EmbedRequest(texts=["q"] * many(v))),
    case("inference.Generate", "messages.content", lambda v: _chat(content=v)),
    case("inference.Generate", "messages.role", lambda v: _chat(role=v), MESSAGE_ROLE),
    case("inference.Generate", "model", lambda v: _chat(model=v), ROUTING),
    case("inference.Generate", "canary", lambda v: _chat(canary=v)),
    case(
        "inference.Generate",
        "parameters.stop_words",
        lambda v: _chat(parameters=common_pb2.GenerationParameters(stop_words=["."] * many(v))),
    ),
    case("inference.Generate", "prompt.name", lambda v: _prompt(name=v), CATALOG),
    case("inference.Generate", "prompt.label", lambda v: _prompt(label=v), RESOLVE),
    case("inference.Generate", "prompt.variables[key]", lambda v: _prompt(variables={v: "x"}), RENDER),
    case("inference.Generate", "prompt.variables[value]", lambda v: _prompt(variables={"question": v})),
    case("prompts.CreatePromptVersion", "name", lambda v: _create(name=v), VALIDATE_NAME),
    case("prompts.CreatePromptVersion", "template", lambda v: _create(template=v)),
    case("prompts.CreatePromptVersion", "description", lambda v: _create(description=v)),
    case("prompts.CreatePromptVersion", "model", lambda v: _create(model=v), REGISTRY_MODEL),
    case("prompts.CreatePromptVersion", "labels[0]", lambda v: _create(labels=[v]), VALIDATE_NAME),
    case(
        "prompts.CreatePromptVersion",
        "variables[0].name",
        lambda v: _create(variables=[inference_pb2.PromptVariable(name=v)]),
        VARIABLE_NAME,
    ),
    case("prompts.GetPrompt", "name", lambda v: inference_pb2.GetPromptRequest(name=v), VALIDATE_NAME),
    case("prompts.GetPrompt", "label", lambda v: inference_pb2.GetPromptRequest(name="faq", label=v), RESOLVE),
    case(
        "prompts.ListPromptVersions", "name", lambda v: inference_pb2.ListPromptVersionsRequest(name=v), VALIDATE_NAME
    ),
    case(
        "prompts.SetLabel", "name", lambda v: inference_pb2.SetLabelRequest(name=v, label="x", version=1), VALIDATE_NAME
    ),
    case(
        "prompts.SetLabel",
        "label",
        lambda v: inference_pb2.SetLabelRequest(name="faq", label=v, version=1),
        VALIDATE_NAME,
    ),
    case(
        "prompts.Rollback",
        "label",
        lambda v: inference_pb2.RollbackRequest(name="faq", label=v, reason="r"),
        VALIDATE_NAME,
    ),
    case("prompts.Rollback", "reason", lambda v: inference_pb2.RollbackRequest(name="faq", reason=v)),
    case("prompts.SetSplit", "name", lambda v: inference_pb2.SetSplitRequest(name=v), VALIDATE_NAME),
    case(
        "prompts.SetSplit",
        "weights[key]",
        lambda v: inference_pb2.SetSplitRequest(name="faq", weights={v: 1.0}),
        VALIDATE_NAME,
    ),
    case("ingestion.Ingest", "content", lambda v: _ingest(content=v.encode())),
    case("ingestion.Ingest", "source_uri", lambda v: _ingest(source_uri=v)),
    case("ingestion.Ingest", "title", lambda v: _ingest(title=v)),
    case("ingestion.Ingest", "dataset", lambda v: _ingest(dataset=v)),
    case("ingestion.Ingest", "mime_type", lambda v: _ingest(mime_type=v), MIME_TYPE),
    case(
        "ingestion.GetDocument", "document_id", lambda v: ingestion_pb2.GetDocumentRequest(document_id=v), DOCUMENT_ID
    ),
    case(
        "ingestion.DeleteDocument",
        "document_id",
        lambda v: ingestion_pb2.DeleteDocumentRequest(document_id=v),
        DOCUMENT_ID,
    ),
    case(
        "ingestion.ListDocuments",
        "page_token",
        lambda v: ingestion_pb2.ListDocumentsRequest(page=common_pb2.PageRequest(page_token=v)),
    ),
    case(
        "ingestion.CreateDatasetVersion",
        "name",
        lambda v: ingestion_pb2.CreateDatasetVersionRequest(dataset="hr", name=v),
        VERSION_NAME,
    ),
    case(
        "ingestion.CreateDatasetVersion",
        "dataset",
        lambda v: ingestion_pb2.CreateDatasetVersionRequest(dataset=v, name=f"v{next(_unique)}"),
    ),
    case("ingestion.ListDatasetVersions", "dataset", lambda v: ingestion_pb2.ListDatasetVersionsRequest(dataset=v)),
    case(
        "guardrails.CheckInput",
        "text",
        lambda v: guardrails_pb2.CheckInputRequest(text=v, application=BULK_APPLICATION),
    ),
    case("guardrails.CheckInput", "application", lambda v: guardrails_pb2.CheckInputRequest(text="hi", application=v)),
    case(
        "guardrails.CheckOutput",
        "answer",
        lambda v: guardrails_pb2.CheckOutputRequest(answer=v, application=BULK_APPLICATION),
    ),
    case(
        "guardrails.CheckDocument",
        "text",
        lambda v: guardrails_pb2.CheckDocumentRequest(text=v, application=BULK_APPLICATION),
    ),
    case("guardrails.GetPolicy", "tenant", lambda v: guardrails_pb2.GetPolicyRequest(tenant=v), POLICY_TENANT),
    case("feedback.Submit", "interaction_id", lambda v: _submit(interaction_id=v), INTERACTION),
    case("feedback.Submit", "comment", lambda v: _submit(comment=v)),
    case("feedback.Submit", "corrected_answer", lambda v: _submit(corrected_answer=v)),
    case("feedback.Submit", "categories", lambda v: _submit(categories=[99] * many(v)), CATEGORIES),
    case("feedback.Evaluate", "golden_set", lambda v: feedback_pb2.EvaluateRequest(golden_set=v)),
    case(
        "feedback.Evaluate",
        "golden_set_version",
        lambda v: feedback_pb2.EvaluateRequest(golden_set="cpython-docs-v1", golden_set_version=v),
        GOLDEN_VERSION,
    ),
    case(
        "feedback.Evaluate",
        "prompt_name",
        lambda v: feedback_pb2.EvaluateRequest(golden_set="cpython-docs-v1", prompt_name=v),
    ),
    case(
        "feedback.CheckPromotion",
        "golden_set",
        lambda v: feedback_pb2.CheckPromotionRequest(prompt_name="faq", candidate_version=1, golden_set=v),
    ),
    case("feedback.GetQualityReport", "prompt_name", lambda v: feedback_pb2.GetQualityReportRequest(prompt_name=v)),
    case("audit.Query", "tenant", lambda v: _query(tenant=v)),
    case("audit.Query", "event_types", lambda v: _query(event_types=["x"] * many(v))),
    case("audit.Query", "page_token", lambda v: _query(page=common_pb2.PageRequest(page_token=v))),
    case("audit.Query", "guardrail_action", lambda v: _query(guardrail_action=v), GUARDRAIL_ACTION),
    case(
        "audit.Export",
        "guardrail_action",
        lambda v: audit_pb2.ExportRequest(query=_query(guardrail_action=v)),
        GUARDRAIL_ACTION,
    ),
    case("audit.Erase", "data_subject", lambda v: audit_pb2.EraseRequest(data_subject=v, reason="GDPR-17")),
]


@pytest.mark.parametrize("field", CASES)
@HUGE
@given(character=st.sampled_from(HUGE_CHARACTERS), size=st.integers(5_000, 1_000_000))
@example(character="x", size=1_000_000)
def test_a_megabyte_in_one_field_is_never_echoed_back(runner, platform, field, character, size) -> None:
    """Answered, or refused with a caller's status and a message of at most ERROR_WIRE_LIMIT bytes on the wire."""
    method = getattr(getattr(platform, field.service), field.method)
    outcome = rpc(runner, method, field.build(character * size))
    if outcome.error is not None:
        check_refusal(outcome.error, CALLER_STATUSES, bounded=True)


def test_a_taken_dataset_version_name_is_refused_without_echoing_the_dataset(runner, platform) -> None:
    """Minimal example: CreateDatasetVersion(dataset='x' * 1_000_000, name='v1') twice."""
    request = ingestion_pb2.CreateDatasetVersionRequest(dataset="x" * 1_000_000, name="v1")
    first = rpc(runner, platform.ingestion.CreateDatasetVersion, request)
    assert first.error is None
    second = rpc(runner, platform.ingestion.CreateDatasetVersion, request)
    assert second.error is not None
    check_refusal(second.error, {"ALREADY_EXISTS"}, bounded=True)


@HUGE
@given(character=st.sampled_from(["é", "\u202e", "\U0001d518"]), size=st.integers(1400, 2048))
@example(character="é", size=2048)
def test_a_source_uri_at_its_length_limit_is_refused_with_a_message_that_fits(runner, platform, character, size):
    """Minimal example: Ingest(header{source_uri='é' * 2048}, content=b'x'): no extension, no mime_type."""
    request = ingestion_pb2.IngestRequest(
        header=ingestion_pb2.DocumentHeader(source_uri=character * size), content=b"Staff get 28 days."
    )
    outcome = rpc(runner, platform.ingestion.Ingest, request)
    assert outcome.error is not None
    check_refusal(outcome.error, CALLER_STATUSES, bounded=True)
