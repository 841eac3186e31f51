"""`python -m services.inference`: the inference service's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from nats.js.api import StorageType

from llmops.api.inference.v1 import inference_pb2_grpc
from llmops.bus import Bus
from llmops.grpc_client import open_channel
from llmops.grpc_server import GrpcServer, ServiceBinding
from llmops.logging import get_logger
from llmops.prompts.store import PromptCatalog, open_prompt_store
from llmops.service import PeriodicTask, configure_service, run_until_stopped
from services.inference.adapters import budget_store
from services.inference.adapters.budget_store import BudgetStore
from services.inference.adapters.promotion import FeedbackPromotionGate
from services.inference.adapters.tokenizer import token_counter
from services.inference.adapters.triton import TritonGenerator
from services.inference.app import BudgetGuard, Inference, Model
from services.inference.config import Settings
from services.inference.core import Limits, Pricing
from services.inference.grpc_api import InferenceServicer, PromptsServicer
from services.inference.prompts import PromptRegistry
from services.inference.resilience import CircuitBreaker, RetryPolicy

INFERENCE_SERVICE = "llmops.api.inference.v1.Inference"
PROMPTS_SERVICE = "llmops.api.inference.v1.Prompts"
log = get_logger(__name__)


class Readiness:
    """Keeps the Inference health status SERVING while at least one model is ready, NOT_SERVING otherwise."""

    def __init__(self, generators: dict[str, TritonGenerator], server: GrpcServer) -> None:
        self.generators = generators
        self.server = server
        self.serving: bool | None = None

    async def check(self) -> None:
        ready = {name: await g.ready() for name, g in self.generators.items()}
        if any(ready.values()) != self.serving:
            self.serving = any(ready.values())
            await self.server.set_serving(INFERENCE_SERVICE, self.serving)
            log.info("model readiness changed", ready=ready, serving=self.serving)


async def main(settings: Settings | None = None, stopped: Awaitable[object] | None = None) -> None:
    """Runs inference until signalled (or until `stopped` completes)."""
    settings = settings or Settings()
    common = settings.common
    configure_service("inference", common)
    retry = RetryPolicy(settings.retry_attempts, settings.retry_base_delay_s, settings.retry_max_delay_s)
    generators: dict[str, TritonGenerator] = {}
    models: dict[str, Model] = {}
    for name, spec in settings.resolved_models().items():
        generators[name] = TritonGenerator(
            spec.triton_url,
            spec.triton_model,
            timeout_s=spec.timeout_s,
            retry=retry,
            breaker=CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s),
        )
        models[name] = Model(
            name=name,
            generator=generators[name],
            counter=await asyncio.to_thread(token_counter, spec.tokenizer_gguf),
            pricing=Pricing(spec.prompt_cost_per_1k, spec.completion_cost_per_1k),
            served_as=spec.served_model,
        )
    bus = Bus.from_settings(common, "llmops/inference")
    store = open_prompt_store(bus, common.stream_replicas)
    catalog = PromptCatalog(store)
    gate_channel = open_channel(settings.promotion_gate_url, settings.grpc) if settings.promotion_gate_url else None
    gate = FeedbackPromotionGate(gate_channel, settings.promotion_golden_set) if gate_channel else None
    registry = PromptRegistry(store, bus, models=list(models), gate=gate)
    budgets = BudgetStore(
        lambda: bus.broker.key_value(
            budget_store.BUCKET,
            ttl=budget_store.KEEP_DAYS * 86_400,
            replicas=common.stream_replicas,
            storage=StorageType.FILE,
        )
    )
    app = Inference(
        models,
        settings.resolved_routes(),
        limits=Limits(
            max_tokens=settings.max_tokens,
            default_max_tokens=settings.default_max_tokens,
            default_repetition_penalty=settings.repetition_penalty,
        ),
        catalog=catalog,
        budgets=BudgetGuard(budgets, settings.budgets, bus) if settings.budgets else None,
        timeout_s=settings.timeout_s,
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
    readiness = PeriodicTask("model-readiness", Readiness(generators, server).check, settings.readiness_interval_s)

    async def close_generators() -> None:
        for generator in generators.values():
            await generator.close()
        if gate_channel is not None:
            await gate_channel.close()

    await run_until_stopped(
        "inference",
        server,
        bus,
        grace_s=settings.grpc.grace_s,
        stopped=stopped,
        on_start=[registry.seed_builtins, catalog.start],
        on_serving=[readiness.start],
        on_stop=[readiness.stop, catalog.stop, close_generators],
    )


if __name__ == "__main__":
    asyncio.run(main())
