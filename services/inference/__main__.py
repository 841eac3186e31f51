"""`python -m services.inference`: the inference service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from nats.js.api import StorageType

from llmops.api.inference.v1 import inference_pb2_grpc
from llmops.bus import Bus
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.logging import configure_logging
from llmops.prompts.store import BUCKET as PROMPTS_BUCKET
from llmops.prompts.store import HISTORY as PROMPTS_HISTORY
from llmops.prompts.store import PromptCatalog, PromptStore
from llmops.service import run_until_stopped
from services.inference.adapters.tokenizer import token_counter
from services.inference.adapters.triton import TritonGenerator
from services.inference.app import Inference
from services.inference.config import Settings
from services.inference.core import Limits, Pricing
from services.inference.grpc_api import InferenceServicer, PromptsServicer
from services.inference.prompts import PromptRegistry

INFERENCE_SERVICE = "llmops.api.inference.v1.Inference"
PROMPTS_SERVICE = "llmops.api.inference.v1.Prompts"


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs inference until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_logging(common.log_level, common.log_format)
    generator = TritonGenerator(settings.triton_url, settings.model_name, timeout_s=settings.timeout_s)
    bus = Bus.from_settings(common, "llmops/inference")
    store = PromptStore(
        lambda: bus.broker.key_value(
            PROMPTS_BUCKET, history=PROMPTS_HISTORY, replicas=common.stream_replicas, storage=StorageType.FILE
        )
    )
    catalog = PromptCatalog(store)
    registry = PromptRegistry(store, bus)
    app = Inference(
        generator,
        await asyncio.to_thread(token_counter, settings.tokenizer_gguf),
        model=settings.served_model,
        pricing=Pricing(settings.prompt_cost_per_1k, settings.completion_cost_per_1k),
        limits=Limits(
            max_tokens=settings.max_tokens,
            default_max_tokens=settings.default_max_tokens,
            default_repetition_penalty=settings.repetition_penalty,
        ),
        catalog=catalog,
    )
    server = GrpcServer.from_settings(
        [
            ServiceBinding(
                InferenceServicer(app, common.default_tenant),
                inference_pb2_grpc.add_InferenceServicer_to_server,
                INFERENCE_SERVICE,
            ),
            ServiceBinding(
                PromptsServicer(registry, common.default_tenant),
                inference_pb2_grpc.add_PromptsServicer_to_server,
                PROMPTS_SERVICE,
            ),
        ],
        settings.grpc,
    )
    await run_until_stopped(
        "inference",
        server,
        bus,
        grace_s=settings.grpc.grace_s,
        stopped=stopped,
        on_start=[registry.seed_builtins, catalog.start],
        on_stop=[catalog.stop, generator.close],
    )


if __name__ == "__main__":
    asyncio.run(main())
