"""protobuf ↔ domain conversion at the service edges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmops.api.common.v1 import common_pb2
from llmops.api.ingestion.v1 import ingestion_pb2
from llmops.events import Classification
from llmops.events import Usage as EventUsage
from services.audit.core import Record
from services.audit.mappers import record_to_pb
from services.gateway.app import Answer
from services.gateway.core import Source
from services.gateway.mappers import answer_to_pb
from services.inference.core import Completion, FinishReason, Limits, Usage
from services.inference.mappers import completion_to_pb, parameters_from_pb
from services.ingestion.adapters.sqlite_store import DocumentView, VersionView
from services.ingestion.core import Stage
from services.ingestion.mappers import document_to_pb, header_from_pb

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_an_ingest_header_is_trimmed_and_an_unspecified_classification_is_internal() -> None:
    """Whitespace is not part of an identity; the safe default applies."""
    header = header_from_pb(
        ingestion_pb2.DocumentHeader(source_uri=" kb://a.md ", dataset=" hr ", allowed_groups=["x", ""])
    )
    assert (header.source_uri, header.dataset, header.allowed_groups) == ("kb://a.md", "hr", ("x",))
    assert header.classification is Classification.INTERNAL
    restricted = header_from_pb(
        ingestion_pb2.DocumentHeader(source_uri="s", classification=common_pb2.CLASSIFICATION_RESTRICTED)
    )
    assert restricted.classification is Classification.RESTRICTED


def test_a_document_view_maps_with_its_stage_history() -> None:
    """GetDocument shows each version's pipeline stages with times."""
    version = VersionView(
        version=2, content_hash="h", chunk_count=3, ingested_by="ann", ingested_at=T0, parser="p", chunker="c",
        embedding_model="m", stage=Stage.INDEXED, history=[(Stage.RECEIVED, T0), (Stage.INDEXED, T0)],
    )  # fmt: skip
    view = DocumentView(
        document_id="d", tenant="t", source_uri="s", title="T", dataset="ds", mime_type="text/plain",
        classification=Classification.CONFIDENTIAL, allowed_groups=["g"], latest_version=2, deleted=False,
        versions=[version],
    )  # fmt: skip
    message = document_to_pb(view)
    assert message.classification == common_pb2.CLASSIFICATION_CONFIDENTIAL
    (v,) = message.versions
    assert v.stage == ingestion_pb2.PIPELINE_STAGE_INDEXED
    assert [h.stage for h in v.history] == [ingestion_pb2.PIPELINE_STAGE_RECEIVED, ingestion_pb2.PIPELINE_STAGE_INDEXED]
    assert v.ingested_at.ToDatetime(UTC) == T0


def test_generation_parameters_and_completions_map_both_ways() -> None:
    """Zero values become defaults; usage and finish reason survive the trip."""
    params = parameters_from_pb(common_pb2.GenerationParameters(max_tokens=5, stop_words=["x"]), Limits())
    assert (params.max_tokens, params.stop_words) == (5, ("x",))
    message = completion_to_pb(Completion("hi", "m", Usage(3, 2, 0.5), FinishReason.LENGTH, 1.0, 2.0))
    assert (message.usage.total_tokens, message.usage.cost_usd, message.text) == (5, 0.5, "hi")


def test_an_answer_maps_with_numbered_citations_and_timings() -> None:
    """Citations keep their numbers and locations."""
    source = Source(2, "c", "d", 3, "Title", "kb://x", "body", 0.7, ["H"], 10, 20, 0)
    answer = Answer("i", "text [2]", [source], "m", EventUsage(total_tokens=9), 1.0, 2.0, 3.5)
    message = answer_to_pb(answer)
    (citation,) = message.citations
    assert (citation.number, citation.document_version, citation.location.start_char) == (2, 3, 10)
    assert list(citation.location.heading_path) == ["H"]
    assert (message.timings.total_ms, message.usage.total_tokens) == (3.5, 9)


def test_an_audit_record_maps_with_its_sequence_and_times() -> None:
    """Compliance sees the log position and both times."""
    record = Record(
        event_id="e", event_type="t", subject="s", source="src", time=T0, tenant="acme", interaction_id="i",
        document_id="", user="ann", payload_json="{}", sequence=7, recorded_at=T0,
    )  # fmt: skip
    message = record_to_pb(record)
    assert (message.sequence, message.tenant, message.time.ToDatetime(UTC)) == (7, "acme", T0)
