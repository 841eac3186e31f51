"""`python -m services.ingestion`: the ingestion service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from nats.js.api import StorageType

from llmops.api.ingestion.v1 import ingestion_pb2_grpc
from llmops.bus import Bus
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.logging import get_logger
from llmops.pii.masking import MaskingPolicy
from llmops.pii.presidio import PresidioDetector
from llmops.service import configure_service, run_until_stopped
from services.ingestion import handlers
from services.ingestion.adapters.raw_store import ObjectStoreRawStore
from services.ingestion.adapters.sqlite_store import SqliteDocumentStore
from services.ingestion.adapters.tokenizer import WordPieceTokenizer, bundled_tokenizer_path
from services.ingestion.app import Ingestion
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.config import Settings
from services.ingestion.core import RAW_BUCKET, Limits
from services.ingestion.grpc_api import IngestionServicer

SERVICE_NAME = "llmops.api.ingestion.v1.Ingestion"
log = get_logger(__name__)


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs ingestion until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_service("ingestion", common)
    store = SqliteDocumentStore(settings.resolved_db_path())
    tokenizer_path = settings.tokenizer_path or bundled_tokenizer_path()
    tokenizer = WordPieceTokenizer(tokenizer_path) if tokenizer_path else None
    policies = {settings.pii_default_policy, *settings.pii_policies.values()}
    # The spaCy model takes seconds to load: only when some dataset masks.
    detector = await asyncio.to_thread(PresidioDetector) if policies - {MaskingPolicy.KEEP} else None
    if tokenizer is None:
        log.warning(
            "no embedding tokenizer found; chunks are sized in words", hint="set LLMOPS_INGESTION_TOKENIZER_PATH"
        )
    bus = Bus.from_settings(common, "llmops/ingestion")
    app = Ingestion(
        store,
        bus,
        Limits(max_document_bytes=settings.max_document_bytes, max_stream_bytes=settings.max_stream_bytes),
        ChunkingPolicy(
            settings.chunk_words, settings.chunk_overlap_words, settings.chunk_tokens, settings.chunk_overlap_tokens
        ),
        tokenizer,
        detector=detector,
        masking=settings.pii_policies,
        default_masking=settings.pii_default_policy,
        raw=ObjectStoreRawStore(
            lambda: bus.broker.object_storage(RAW_BUCKET, replicas=common.stream_replicas, storage=StorageType.FILE)
        ),
    )
    handlers.register(bus, app)
    server = GrpcServer.from_settings(
        [
            ServiceBinding(
                IngestionServicer(app, common.default_tenant, settings.resolved_spool_dir()),
                ingestion_pb2_grpc.add_IngestionServicer_to_server,
                SERVICE_NAME,
            )
        ],
        settings.grpc,
    )
    await run_until_stopped(
        "ingestion", server, bus, grace_s=settings.grpc.grace_s, stopped=stopped, on_stop=[store.close]
    )


if __name__ == "__main__":
    asyncio.run(main())
