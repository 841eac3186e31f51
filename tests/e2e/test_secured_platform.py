"""The platform as production runs it: authentication on every port, service credentials between services,
rate limits, traces and metrics — the same `llmops dev` stack with those settings switched on.

One `Ask` must be one trace through every service it touches; each process must serve its metrics; tenants must
never see each other's documents, interactions or audit records.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from llmops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.api.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from llmops.api.inference.v1 import inference_pb2, inference_pb2_grpc
from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.api.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from llmops.auth import TENANT_HEADER
from llmops.cli.stack import PROCESSES, Stack, StackPorts
from llmops.events import Classification
from llmops.security import JsonFileKeyStore, issue_key
from llmops.security.limits import RETRY_AFTER_HEADER
from tests.e2e.test_platform import eventually

pytestmark = pytest.mark.e2e

RATE_PER_S, BURST = 5.0, 20
ACME_DOC = b"# Travel policy\n\nAcme staff book flights through the Skyway portal at least fourteen days ahead.\n"


@dataclass
class Secured:
    stack: Stack
    keys: dict[str, str]
    spans: Path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    root = tmp_path_factory.mktemp("secured")
    store = JsonFileKeyStore(root / "keys.json")
    grants = {
        "service": ("platform", "llmops-services", ["service"], Classification.RESTRICTED),
        "alice": ("acme", "alice", ["reader"], Classification.CONFIDENTIAL),
        "carol": ("acme", "carol", ["reader"], Classification.INTERNAL),
        "acme-ingester": ("acme", "ingest-bot", ["ingester"], Classification.RESTRICTED),
        "acme-auditor": ("acme", "auditor", ["compliance"], Classification.PUBLIC),
        "acme-prompts": ("acme", "prompt-owner", ["prompt-admin"], Classification.PUBLIC),
        "bob": ("globex", "bob", ["reader"], Classification.RESTRICTED),
        "globex-ingester": ("globex", "ingest-bot", ["ingester"], Classification.RESTRICTED),
        "globex-prompts": ("globex", "prompt-owner", ["prompt-admin"], Classification.PUBLIC),
        "globex-auditor": ("globex", "auditor", ["compliance"], Classification.PUBLIC),
    }
    keys = {}
    for name, (tenant, subject, roles, clearance) in grants.items():
        plaintext, record = issue_key(tenant, subject, roles=roles, clearance=clearance)
        store.put(record)
        keys[name] = plaintext
    spans = root / "spans.jsonl"
    env = {
        "LLMOPS_AUTH_ENABLED": "true",
        "LLMOPS_AUTH_API_KEYS_FILE": str(root / "keys.json"),
        "LLMOPS_CLIENT_API_KEY": keys["service"],
        "LLMOPS_LIMITS_RATE_PER_S": str(RATE_PER_S),
        "LLMOPS_LIMITS_BURST": str(BURST),
        "LLMOPS_LIMITS_MAX_CONCURRENT": "256",
        "LLMOPS_TELEMETRY_TRACES_EXPORTER": "jsonl",
        "LLMOPS_TELEMETRY_TRACES_FILE": str(spans),
    }
    with Stack(root / "data", model="extractive", ports=StackPorts.free(), extra_env=env) as stack:
        yield Secured(stack, keys, spans)


def channel(secured: Secured, service: str) -> grpc.Channel:
    return grpc.insecure_channel(secured.stack.endpoints.grpc[service])


def as_key(secured: Secured, who: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("x-api-key", secured.keys[who]), *extra]


@pytest.fixture(scope="module")
def acme_document(secured: Secured) -> str:
    with channel(secured, "ingestion") as ch:
        stub = ingestion_pb2_grpc.IngestionStub(ch)
        header = ingestion_pb2.DocumentHeader(source_uri="kb://acme/travel.md")
        reply = stub.Ingest(
            ingestion_pb2.IngestRequest(header=header, content=ACME_DOC), metadata=as_key(secured, "acme-ingester")
        )

        def indexed() -> bool | None:
            doc = stub.GetDocument(
                ingestion_pb2.GetDocumentRequest(document_id=reply.document_id),
                metadata=as_key(secured, "acme-ingester"),
            )
            return True if doc.versions[-1].stage == ingestion_pb2.PIPELINE_STAGE_INDEXED else None

        eventually(indexed, timeout_s=120)
    return reply.document_id


def ask(secured: Secured, who: str, query: str, *extra: tuple[str, str]) -> gateway_pb2.AskResponse:
    with channel(secured, "gateway") as ch:
        reply: gateway_pb2.AskResponse = gateway_pb2_grpc.AssistantStub(ch).Ask(
            gateway_pb2.AskRequest(query=query), metadata=as_key(secured, who, *extra), timeout=120
        )
        return reply


def code_of(call: object) -> grpc.StatusCode:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_a_reader_asks_through_every_service_with_the_services_own_credentials(
    secured: Secured, acme_document: str
) -> None:
    reply = ask(secured, "alice", "How far ahead do Acme staff book flights?")
    assert "fourteen days" in reply.answer
    assert [c.document_id for c in reply.citations][:1] == [acme_document]


def test_calls_without_or_with_bad_credentials_or_roles_are_refused(secured: Secured) -> None:
    with channel(secured, "gateway") as ch:
        stub = gateway_pb2_grpc.AssistantStub(ch)
        request = gateway_pb2.AskRequest(query="How far ahead do staff book flights?")
        assert code_of(lambda: stub.Ask(request, timeout=30)) == grpc.StatusCode.UNAUTHENTICATED
        bad = [("x-api-key", secured.keys["alice"][:-4] + "AAAA")]
        assert code_of(lambda: stub.Ask(request, metadata=bad, timeout=30)) == grpc.StatusCode.UNAUTHENTICATED
    with channel(secured, "ingestion") as ch:
        ingest = ingestion_pb2_grpc.IngestionStub(ch)
        header = ingestion_pb2.DocumentHeader(source_uri="kb://acme/forged.md")
        request_ingest = ingestion_pb2.IngestRequest(header=header, content=b"# Forged\n\nNot allowed.\n")
        denied = code_of(lambda: ingest.Ingest(request_ingest, metadata=as_key(secured, "alice"), timeout=30))
        assert denied == grpc.StatusCode.PERMISSION_DENIED
    with channel(secured, "embedding") as ch:
        # Internal services refuse product callers: only the `service` role may embed.
        from llmops.api.embedding.v1 import embedding_pb2, embedding_pb2_grpc

        embed = embedding_pb2_grpc.EmbeddingStub(ch)
        refused = code_of(
            lambda: embed.Embed(embedding_pb2.EmbedRequest(texts=["x"]), metadata=as_key(secured, "bob"), timeout=30)
        )
        assert refused == grpc.StatusCode.PERMISSION_DENIED


def test_another_tenant_never_sees_acme_documents_even_when_it_names_acme(secured: Secured, acme_document: str) -> None:
    forged = (TENANT_HEADER, "acme")  # bob is not a service: his headers are ignored, his key decides
    reply = ask(secured, "bob", "How far ahead do Acme staff book flights?", forged)
    assert acme_document not in [c.document_id for c in reply.citations]
    assert "fourteen" not in reply.answer
    with channel(secured, "retrieval") as ch:
        hits = retrieval_pb2_grpc.RetrievalStub(ch).Search(
            retrieval_pb2.SearchRequest(query="Skyway portal flights", top_k=10),
            metadata=as_key(secured, "bob", forged),
            timeout=30,
        )
    assert [h for h in hits.hits if h.chunk.document_id == acme_document] == []


def test_interactions_and_audit_records_stay_in_their_tenant(secured: Secured, acme_document: str) -> None:
    reply = ask(secured, "alice", "Which portal do Acme staff use for flights?")
    with channel(secured, "feedback") as ch:
        stub = feedback_pb2_grpc.FeedbackStub(ch)
        submit = feedback_pb2.SubmitRequest(interaction_id=reply.interaction_id, thumbs_up=True)
        assert code_of(lambda: stub.Submit(submit, metadata=as_key(secured, "bob"), timeout=30)) in {
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.FAILED_PRECONDITION,
        }
        assert stub.Submit(submit, metadata=as_key(secured, "alice"), timeout=30).feedback_id
    with channel(secured, "audit") as ch:
        audit = audit_pb2_grpc.AuditStub(ch)
        query = audit_pb2.QueryRequest(interaction_id=reply.interaction_id)

        def acme_sees_it() -> list[audit_pb2.AuditRecord] | None:
            return list(audit.Query(query, metadata=as_key(secured, "acme-auditor"), timeout=30).records) or None

        assert eventually(acme_sees_it)
        assert list(audit.Query(query, metadata=as_key(secured, "globex-auditor"), timeout=30).records) == []
        assert code_of(lambda: audit.Query(query, metadata=as_key(secured, "alice"), timeout=30)) == (
            grpc.StatusCode.PERMISSION_DENIED
        )


def test_another_tenants_ids_are_not_found_for_documents_and_prompts(secured: Secured, acme_document: str) -> None:
    """Knowing an id is not access: globex's ingester cannot read or delete acme's document, nor its prompts."""
    with channel(secured, "ingestion") as ch:
        stub = ingestion_pb2_grpc.IngestionStub(ch)
        as_globex = as_key(secured, "globex-ingester")
        get = ingestion_pb2.GetDocumentRequest(document_id=acme_document)
        delete = ingestion_pb2.DeleteDocumentRequest(document_id=acme_document)
        assert code_of(lambda: stub.GetDocument(get, metadata=as_globex, timeout=30)) == grpc.StatusCode.NOT_FOUND
        assert code_of(lambda: stub.DeleteDocument(delete, metadata=as_globex, timeout=30)) == (
            grpc.StatusCode.NOT_FOUND
        )
        still = stub.GetDocument(get, metadata=as_key(secured, "acme-ingester"), timeout=30)
        assert not still.deleted
    with channel(secured, "inference") as ch:
        prompts = inference_pb2_grpc.PromptsStub(ch)
        created = prompts.CreatePromptVersion(
            inference_pb2.CreatePromptVersionRequest(name="travel-desk", template="Answer: {{question}}",
                                                     variables=[inference_pb2.PromptVariable(name="question")]),
            metadata=as_key(secured, "acme-prompts"),
            timeout=30,
        )  # fmt: skip
        assert created.version == 1
        read = inference_pb2.GetPromptRequest(name="travel-desk", version=1)
        assert prompts.GetPrompt(read, metadata=as_key(secured, "acme-prompts"), timeout=30).version == 1
        refused = code_of(lambda: prompts.GetPrompt(read, metadata=as_key(secured, "globex-prompts"), timeout=30))
        assert refused == grpc.StatusCode.NOT_FOUND


def spans_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_one_ask_is_one_trace_through_every_service_and_the_event_it_publishes(
    secured: Secured, acme_document: str
) -> None:
    reply = ask(secured, "alice", "When must Acme flights be booked?")
    interaction = reply.interaction_id

    def trace() -> dict[str, set[str]] | None:
        spans = spans_of(secured.spans)
        roots = [
            s for s in spans if s["name"] == "Assistant.Ask" and s["kind"] == "SERVER"
            and (s.get("attributes") or {}).get("llmops.interaction_id") == interaction  # type: ignore[union-attr]
        ]  # fmt: skip
        if not roots:
            return None
        trace_id = roots[-1]["trace_id"]
        by_service: dict[str, set[str]] = {}
        for s in spans:
            if s["trace_id"] == trace_id:
                by_service.setdefault(str(s["service"]), set()).add(str(s["name"]))
        # embedding and retrieval share one process in the dev stack, hence one service name there
        return by_service if {"gateway", "inference", "guardrails", "audit"} <= set(by_service) else None

    by_service = eventually(trace, timeout_s=60)
    names = set().union(*by_service.values())
    assert {"Retrieval.Search", "Embedding.Embed", "Inference.GenerateStream"} <= names
    assert {"Guardrails.CheckInput", "Guardrails.CheckOutput"} <= by_service["guardrails"]
    assert "consume interactions.v1.completed" in by_service["audit"]  # the event carried the trace on


def test_every_process_serves_its_metrics(secured: Secured, acme_document: str) -> None:
    ask(secured, "alice", "Which portal books Acme flights?")
    texts = {}
    for process, url in secured.stack.endpoints.metrics.items():
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback URL of the test stack
            texts[process] = response.read().decode()
    assert set(texts) == set(PROCESSES)
    assert all("llmops_rpc_requests_total" in text for text in texts.values())
    ok_asks = re.search(
        r'llmops_rpc_requests_total\{[^}]*code="OK"[^}]*method="Assistant.Ask"[^}]*\} (\S+)', texts["gateway"]
    )
    assert ok_asks and float(ok_asks.group(1)) >= 1
    assert "llmops_consumer_pending" in texts["audit"]
    assert "llmops_tokens_total" in texts["gateway"] or "llmops_tokens_total" in texts["inference"]


def test_a_burst_beyond_the_rate_limit_is_refused_with_a_retry_hint(secured: Secured) -> None:
    async def flood() -> tuple[list[grpc.StatusCode], list[str], float]:
        async with grpc.aio.insecure_channel(secured.stack.endpoints.grpc["feedback"]) as ch:
            stub = feedback_pb2_grpc.FeedbackStub(ch)
            request = feedback_pb2.SubmitRequest(interaction_id="no-such-interaction", thumbs_up=True)

            async def one() -> tuple[grpc.StatusCode, str]:
                try:
                    await stub.Submit(request, metadata=as_key(secured, "carol"), timeout=30)
                except grpc.aio.AioRpcError as exc:
                    hint = dict(exc.trailing_metadata() or ()).get(RETRY_AFTER_HEADER, "")
                    return exc.code(), str(hint)
                return grpc.StatusCode.OK, ""

            started = time.monotonic()
            results = await asyncio.gather(*(one() for _ in range(3 * BURST)))
            return (
                [c for c, _ in results],
                [h for c, h in results if c == grpc.StatusCode.RESOURCE_EXHAUSTED],
                (time.monotonic() - started),
            )

    codes, hints, elapsed = asyncio.run(flood())
    admitted = [c for c in codes if c != grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(admitted) >= BURST
    assert len(admitted) <= BURST + RATE_PER_S * elapsed + 1  # never more than the bucket refilled
    assert len(hints) == len(codes) - len(admitted) > 0 and all(int(h) > 0 for h in hints)


def test_the_cli_uses_the_key_from_the_environment(secured: Secured, acme_document: str) -> None:
    env = {**os.environ, "LLMOPS_GATEWAY_URL": secured.stack.endpoints.grpc["gateway"]}
    command = [sys.executable, "-m", "llmops.cli.main", "ask", "How far ahead are Acme flights booked?"]
    without = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert without.returncode != 0 and "UNAUTHENTICATED" in without.stderr
    with_key = subprocess.run(
        command, env={**env, "LLMOPS_API_KEY": secured.keys["alice"]}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert with_key.returncode == 0, with_key.stderr
    assert "fourteen days" in with_key.stdout
