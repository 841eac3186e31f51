"""The prompt registry as automatic rollback sees it: move a label back, with the reason recorded."""

from __future__ import annotations

import grpc

from llmops.api.inference.v1 import inference_pb2, inference_pb2_grpc
from llmops.auth import TENANT_HEADER, USER_HEADER
from llmops.errors import Unavailable

ACTOR = "llmops-feedback"
"""Who the registry and the audit log see moving the label."""


class GrpcPromptRoller:
    """Calls `Prompts.Rollback` on the inference service in the prompt's tenant."""

    def __init__(self, channel: grpc.aio.Channel, timeout_s: float = 10.0) -> None:
        self._stub = inference_pb2_grpc.PromptsStub(channel)
        self._timeout_s = timeout_s

    async def roll_back(self, tenant: str, name: str, label: str, reason: str) -> int:
        """Moves `label` back; the version it points at now."""
        try:
            version = await self._stub.Rollback(
                inference_pb2.RollbackRequest(name=name, label=label, reason=reason),
                timeout=self._timeout_s,
                metadata=[(TENANT_HEADER, tenant), (USER_HEADER, ACTOR)],
            )
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(f"rolling back {name} failed: {exc.code().name}: {exc.details()}") from exc
        return int(version.version)
