"""Ingestion's seven RPCs with generated requests and documents: text, Markdown, HTML, PDF and DOCX bytes of any
content are stored and announced (every chunk, in parts a consumer can decode) or refused with INVALID_ARGUMENT;
reads, deletes and dataset versions answer in the caller's tenant or refuse. The servicer runs on the real use
case and SQLite store (`servicers.py`); see `test_grpc_validation.py` for the properties every RPC is held to."""

from __future__ import annotations

import io
from typing import Any

import docx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from llmops import ids
from llmops.api.ingestion.v1 import ingestion_pb2
from llmops.events import Classification, DocumentChunked, DocumentReceived
from tests.property.fakes import check_refusal, stream_of
from tests.property.servicers import (
    INGESTION_LIMITS,
    INVALID,
    MISSING,
    rpc,
    tenant_of,
)
from tests.property.strategies import (
    PROPERTY,
    callers,
    good_metadata,
    names,
    one_field_off,
    pages,
    texts,
)

pytestmark = [pytest.mark.unit, pytest.mark.property]

# --- Ingestion -------------------------------------------------------------------------------------------------

SOURCES = ("kb://leave.txt", "kb://guide.md", "kb://page.html", "kb://scan.pdf", "kb://letter.docx", "kb://notes")
DOCUMENT_IDS = tuple(ids.document_id(tenant, uri) for tenant in ("acme", "globex") for uri in SOURCES)
MIME_TYPES = ("", "text/plain", "text/markdown; charset=utf-8", "TEXT/HTML", "application/pdf")

valid_headers = st.builds(
    ingestion_pb2.DocumentHeader,
    source_uri=st.sampled_from(SOURCES[:3]),
    title=texts(40),
    mime_type=st.sampled_from(MIME_TYPES[:2]),
    dataset=st.sampled_from(["", "hr"]),
    classification=st.integers(0, 4),
    allowed_groups=st.lists(st.sampled_from(["hr", "eng", ""]), max_size=3),
    metadata=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)
wild_headers = st.builds(
    ingestion_pb2.DocumentHeader,
    source_uri=st.sampled_from(SOURCES) | texts(80, long=3000),
    title=texts(long=1000),
    mime_type=st.sampled_from(MIME_TYPES) | names(),
    dataset=texts(40, long=300),
    classification=st.integers(0, 4),  # unknown values: test_an_unknown_classification_is_refused
    allowed_groups=st.lists(texts(20, long=100), max_size=5),
    metadata=st.dictionaries(texts(20, long=100), texts(20, long=100), max_size=3),
)
valid_content = st.builds(lambda s: f"Leave policy\n\n# Days\nStaff get {s} days.".encode(), st.text(max_size=500))
wild_content = st.one_of(
    st.binary(max_size=2000),
    st.sampled_from([b"", b"\x00", b"\xff\xfe\xfd", b"\xef\xbb\xbf", b"\xc3\x28", b"\xed\xa0\x80"]),
    st.builds(lambda b: b"%PDF-1.7\n" + b, st.binary(max_size=500)),
    st.builds(lambda b: b"PK\x03\x04" + b, st.binary(max_size=500)),
    st.builds(lambda t: t.encode("utf-8", "surrogatepass"), texts(300, long=100_000)),
)


def ingest_request(header: ingestion_pb2.DocumentHeader | None, content: bytes) -> ingestion_pb2.IngestRequest:
    return ingestion_pb2.IngestRequest(header=header, content=content)


ingest_requests = one_field_off(
    ingest_request,
    valid={"header": valid_headers, "content": valid_content},
    wild={"header": st.none() | wild_headers, "content": wild_content},
)


def check_ingested(platform, response, headers) -> None:
    """An ingest within the limits, recorded and announced: `received`, then every chunk in `chunked` parts."""
    assert response.version >= 1 and len(response.content_hash) == 64
    if response.outcome == ingestion_pb2.INGEST_OUTCOME_UNCHANGED:
        return
    events = [e for e in platform.buses["ingestion"].events if getattr(e, "document_id", "") == response.document_id]
    received = [e for e in events if isinstance(e, DocumentReceived) and e.version == response.version]
    parts = [e for e in events if isinstance(e, DocumentChunked) and e.version == response.version]
    assert received and received[-1].tenant == tenant_of(headers)
    assert received[-1].size_bytes <= INGESTION_LIMITS.max_stream_bytes
    assert sum(len(p.chunks) for p in parts[-parts[-1].parts :]) == response.chunk_count


@PROPERTY
@given(request=ingest_requests, headers=callers())
def test_a_document_is_ingested_and_announced_or_refused(runner, platform, request, headers) -> None:
    """Ingestion.Ingest: text, Markdown, HTML, PDF and DOCX bytes of any content (invalid UTF-8, NUL, damaged
    PDF and zip files, 100 KB past the limit) are stored and announced, or refused with INVALID_ARGUMENT."""
    outcome = rpc(runner, platform.ingestion.Ingest, request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        return
    assert 0 < len(request.content) <= INGESTION_LIMITS.max_document_bytes
    check_ingested(platform, outcome.response, headers)


def tiny_pdf(text: bytes) -> bytes:
    """A one-page PDF with a text layer, cross-reference table included."""
    stream = b"BT /F1 18 Tf 20 100 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def tiny_docx(text: str) -> bytes:
    """A Word document with a heading and a paragraph, as python-docx writes it."""
    document = docx.Document()
    document.add_heading("Leave", 1)
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


SAMPLES = {"kb://sample.pdf": tiny_pdf(b"Staff get 28 days."), "kb://sample.docx": tiny_docx("Staff get 28 days.")}


def damaged(sample: bytes, how: str, positions: list[int], junk: bytes) -> bytes:
    """The sample cut short, with bytes inverted, or with junk inserted, at the given positions."""
    data = bytearray(sample)
    for position in sorted((p % len(data) for p in positions), reverse=True):
        if how == "truncate":
            del data[position:]
        elif how == "invert":
            data[position] ^= 0xFF
        elif how == "insert":
            data[position:position] = junk
    return bytes(data)


damaged_files = st.builds(
    lambda uri, how, positions, junk: ingestion_pb2.IngestRequest(
        header=ingestion_pb2.DocumentHeader(source_uri=uri), content=damaged(SAMPLES[uri], how, positions, junk)
    ),
    st.sampled_from(sorted(SAMPLES)),
    st.sampled_from(["intact", "truncate", "invert", "insert"]),
    st.lists(st.integers(0, 2**20), min_size=1, max_size=8),
    st.binary(min_size=1, max_size=16),
)


@PROPERTY
@given(request=damaged_files, tenant=st.sampled_from(["acme", "globex"]))
def test_a_damaged_pdf_or_word_file_is_ingested_or_refused(runner, platform, request, tenant) -> None:
    """Ingestion.Ingest of real PDF and DOCX files cut short, with bytes inverted or junk inserted: the parsers'
    failures (pypdf, python-docx, zipfile, lxml) all become INVALID_ARGUMENT; an intact file is ingested."""
    headers = good_metadata(tenant)
    outcome = rpc(runner, platform.ingestion.Ingest, request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        assert request.content != SAMPLES[request.header.source_uri], "an intact sample was refused"
        return
    check_ingested(platform, outcome.response, headers)


def stream_messages(parts: list[tuple[str, Any]]) -> list[ingestion_pb2.IngestStreamRequest]:
    return [
        ingestion_pb2.IngestStreamRequest(header=value)
        if kind == "header"
        else ingestion_pb2.IngestStreamRequest(content=value)
        for kind, value in parts
    ]


valid_streams = st.builds(
    lambda header, chunks: stream_messages([("header", header), *(("content", c) for c in chunks)]),
    valid_headers,
    st.lists(valid_content, min_size=1, max_size=3),
)
wild_streams = st.lists(
    st.tuples(st.just("header"), wild_headers)
    | st.tuples(st.just("content"), wild_content | st.builds(bytes, st.integers(0, 200_000))),
    max_size=5,
).map(stream_messages)


@PROPERTY
@given(messages=valid_streams | wild_streams, headers=callers())
def test_a_streamed_document_is_ingested_or_refused(runner, platform, messages, headers) -> None:
    """Ingestion.IngestStream: a header then content is ingested; no header, a late or second header, no content
    and more than the streaming limit are refused with INVALID_ARGUMENT."""
    outcome = rpc(runner, platform.ingestion.IngestStream, stream_of(messages), headers)
    if outcome.error is not None:
        check_refusal(outcome.error, INVALID)
        return
    assert messages[0].HasField("header") and sum(m.HasField("header") for m in messages) == 1
    assert 0 < sum(len(m.content) for m in messages) <= INGESTION_LIMITS.max_stream_bytes
    check_ingested(platform, outcome.response, headers)


document_ids = st.sampled_from(DOCUMENT_IDS) | texts(40)
datasets = st.sampled_from(["", "hr", "default"]) | texts(40)
version_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True) | texts(40, long=300)
document_calls = st.one_of(
    st.builds(lambda d: ("GetDocument", ingestion_pb2.GetDocumentRequest(document_id=d)), document_ids),
    st.builds(lambda d: ("DeleteDocument", ingestion_pb2.DeleteDocumentRequest(document_id=d)), document_ids),
    st.builds(lambda d, p: ("ListDocuments", ingestion_pb2.ListDocumentsRequest(dataset=d, page=p)), datasets, pages),
    st.builds(
        lambda d, n: ("CreateDatasetVersion", ingestion_pb2.CreateDatasetVersionRequest(dataset=d, name=n)),
        datasets,
        version_names,
    ),
    st.builds(lambda d: ("ListDatasetVersions", ingestion_pb2.ListDatasetVersionsRequest(dataset=d)), datasets),
)


@PROPERTY
@given(call_=document_calls, headers=callers())
def test_document_calls_answer_or_refuse(runner, platform, call_, headers) -> None:
    """Ingestion.GetDocument, DeleteDocument, ListDocuments, CreateDatasetVersion, ListDatasetVersions: an answer
    in the caller's tenant, or INVALID_ARGUMENT, NOT_FOUND (another tenant's document reads as missing) or
    ALREADY_EXISTS (a dataset version name taken)."""
    method, request = call_
    outcome = rpc(runner, getattr(platform.ingestion, method), request, headers)
    if outcome.error is not None:
        check_refusal(outcome.error, MISSING | {"ALREADY_EXISTS"})
        return
    response = outcome.response
    if method == "GetDocument":
        assert response.tenant == tenant_of(headers)
    elif method == "ListDocuments":
        size = request.page.page_size or 100
        assert len(response.documents) <= size and all(d.tenant == tenant_of(headers) for d in response.documents)


# --- known bugs ------------------------------------------------------------------------------------------------


@PROPERTY
@given(value=st.integers(5, 2**31 - 1) | st.integers(-(2**31), -1))
@example(value=5)
def test_an_unknown_classification_is_refused(runner, platform, value) -> None:
    """Ingestion.Ingest with DocumentHeader.classification outside the enum is INVALID_ARGUMENT, not downgraded.

    Minimal example: Ingest(header{source_uri='kb://x.txt', classification=5}, content=b'hello')."""
    header = ingestion_pb2.DocumentHeader(source_uri=f"kb://classified-{value}.txt", classification=value)
    outcome = rpc(runner, platform.ingestion.Ingest, ingestion_pb2.IngestRequest(header=header, content=b"hello"))
    if outcome.error is None:
        chunked = [e for e in platform.buses["ingestion"].events if isinstance(e, DocumentChunked)]
        assert chunked[-1].classification != Classification.INTERNAL, "stored as internal"
    assert outcome.error is not None
    check_refusal(outcome.error, INVALID)
