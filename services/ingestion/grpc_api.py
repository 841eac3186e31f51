"""The Ingestion gRPC servicer: decode, call the use case, encode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from llmops.api.ingestion.v1 import ingestion_pb2 as pb
from llmops.api.ingestion.v1 import ingestion_pb2_grpc
from llmops.auth import Principal, principal_from_metadata
from llmops.errors import InvalidArgument
from services.ingestion import mappers
from services.ingestion.app import Ingestion
from services.ingestion.upload import UploadSpool

MAX_PAGE_SIZE = 500


class IngestionServicer(ingestion_pb2_grpc.IngestionServicer):
    """Ingestion over gRPC."""

    def __init__(self, app: Ingestion, default_tenant: str, spool_dir: Path | None = None) -> None:
        self.app = app
        self.default_tenant = default_tenant
        self.spool_dir = spool_dir

    def _principal(self, context: grpc.aio.ServicerContext) -> Principal:
        return principal_from_metadata(context.invocation_metadata(), self.default_tenant)

    async def Ingest(self, request: pb.IngestRequest, context: grpc.aio.ServicerContext) -> pb.IngestResponse:
        if not request.HasField("header"):
            raise InvalidArgument("header is required (at least header.source_uri)")
        result = await self.app.ingest(
            self._principal(context), mappers.header_from_pb(request.header), request.content
        )
        return mappers.ingest_result_to_pb(result)

    async def IngestStream(
        self, request_iterator: AsyncIterator[pb.IngestStreamRequest], context: grpc.aio.ServicerContext
    ) -> pb.IngestResponse:
        # Content goes to a spool file as it arrives (gRPC flow control paces the sender), never into one buffer.
        spool = UploadSpool(self.app.limits.max_stream_bytes, self.spool_dir)
        try:
            header = await _receive(request_iterator, spool)
        except BaseException:
            spool.discard()
            raise
        with spool.finish() as upload:
            result = await self.app.ingest(self._principal(context), mappers.header_from_pb(header), upload)
        return mappers.ingest_result_to_pb(result)

    async def GetDocument(self, request: pb.GetDocumentRequest, context: grpc.aio.ServicerContext) -> pb.Document:
        if not request.document_id:
            raise InvalidArgument("document_id is required")
        return mappers.document_to_pb(await self.app.get(self._principal(context), request.document_id))

    async def ListDocuments(
        self, request: pb.ListDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDocumentsResponse:
        size = request.page.page_size or 100
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"page.page_size must be between 1 and {MAX_PAGE_SIZE}")
        views = await self.app.list_documents(
            self._principal(context), request.dataset, request.page.page_token, size + 1
        )
        next_token = views[size - 1].document_id if len(views) > size else ""
        return pb.ListDocumentsResponse(
            documents=[mappers.document_to_pb(v) for v in views[:size]], next_page_token=next_token
        )

    async def DeleteDocument(
        self, request: pb.DeleteDocumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteDocumentResponse:
        if not request.document_id:
            raise InvalidArgument("document_id is required")
        view = await self.app.delete(self._principal(context), request.document_id)
        return pb.DeleteDocumentResponse(document_id=view.document_id, version=view.latest_version)

    async def CreateDatasetVersion(
        self, request: pb.CreateDatasetVersionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DatasetVersion:
        snapshot = await self.app.create_dataset_version(self._principal(context), request.dataset, request.name)
        return mappers.dataset_version_to_pb(snapshot)

    async def ListDatasetVersions(
        self, request: pb.ListDatasetVersionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDatasetVersionsResponse:
        snapshots = await self.app.dataset_versions(self._principal(context), request.dataset)
        return pb.ListDatasetVersionsResponse(versions=[mappers.dataset_version_to_pb(s) for s in snapshots])


async def _receive(requests: AsyncIterator[pb.IngestStreamRequest], spool: UploadSpool) -> pb.DocumentHeader:
    """Takes the header, then spools the content, checking the stream's shape as it arrives."""
    header: pb.DocumentHeader | None = None
    async for message in requests:
        if message.HasField("header"):
            if header is not None:
                raise InvalidArgument("header sent twice; send it once, as the first message")
            header = message.header
        elif header is None:
            raise InvalidArgument("the first message must carry the header, content follows")
        else:
            await asyncio.to_thread(spool.write, message.content)
    if header is None:
        raise InvalidArgument("stream was empty; send a header, then the content")
    return header
