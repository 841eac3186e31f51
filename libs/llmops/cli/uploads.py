"""Sending documents to the ingestion service: streamed from disk, a few at a time, with progress.

Files are never read whole on the client: each goes through `IngestStream` in 256 KiB messages, read as gRPC
asks for them. At most `parallel` uploads are in flight, so a folder of any size costs bounded memory and the
service sees bounded load (back-pressure instead of a burst).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc

STREAM_MESSAGE_BYTES = 256 * 1024
UPLOAD_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class DocumentSource:
    """One document to send: a file streamed from disk, or bytes already in memory."""

    source_uri: str
    path: Path | None = None
    content: bytes = b""
    title: str = ""
    mime_type: str = ""

    @classmethod
    def file(cls, path: Path) -> DocumentSource:
        resolved = path.resolve()
        return cls(source_uri=resolved.as_uri(), path=resolved)


def stream_messages(header: ingestion_pb2.DocumentHeader, path: Path) -> Iterator[ingestion_pb2.IngestStreamRequest]:
    """The header, then the file in `STREAM_MESSAGE_BYTES` pieces, read lazily."""
    yield ingestion_pb2.IngestStreamRequest(header=header)
    with path.open("rb") as file:
        while piece := file.read(STREAM_MESSAGE_BYTES):
            yield ingestion_pb2.IngestStreamRequest(content=piece)


def upload(
    stub: ingestion_pb2_grpc.IngestionStub, source: DocumentSource, header: ingestion_pb2.DocumentHeader
) -> dict[str, Any]:
    """Sends one document; the result as a dict, or {"error": ...} with the service's message."""
    try:
        if source.path is not None:
            response = stub.IngestStream(stream_messages(header, source.path), timeout=UPLOAD_TIMEOUT_S)
        else:
            request = ingestion_pb2.IngestRequest(header=header, content=source.content)
            response = stub.Ingest(request, timeout=UPLOAD_TIMEOUT_S)
    except grpc.RpcError as exc:
        return {"source_uri": source.source_uri, "error": f"{exc.code().name}: {exc.details()}"}
    except OSError as exc:
        return {"source_uri": source.source_uri, "error": f"could not read {source.path}: {exc.strerror or exc}"}
    return {"source_uri": source.source_uri, **MessageToDict(response, preserving_proto_field_name=True)}


def upload_all(
    stub: ingestion_pb2_grpc.IngestionStub,
    sources: list[DocumentSource],
    header_for: Callable[[DocumentSource], ingestion_pb2.DocumentHeader],
    *,
    parallel: int,
    on_done: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Uploads every source with at most `parallel` in flight; results in the order of `sources`."""
    results: list[dict[str, Any] | None] = [None] * len(sources)
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="llmops-upload") as pool:
        futures = {pool.submit(upload, stub, source, header_for(source)): i for i, source in enumerate(sources)}
        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            on_done(result)
    return [r for r in results if r is not None]


def wait_indexed(
    stub: ingestion_pb2_grpc.IngestionStub,
    document_ids: list[str],
    timeout_s: float,
    on_indexed: Callable[[int], None] = lambda _: None,
) -> list[str]:
    """Polls until every document's latest version is INDEXED, reporting each as it lands; returns the late ones."""
    pending = set(document_ids)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for document_id in list(pending):
            document = stub.GetDocument(ingestion_pb2.GetDocumentRequest(document_id=document_id), timeout=10)
            if document.versions and document.versions[-1].stage == ingestion_pb2.PIPELINE_STAGE_INDEXED:
                pending.discard(document_id)
                on_indexed(len(document_ids) - len(pending))
        if pending:
            time.sleep(0.5)
    return sorted(pending)
