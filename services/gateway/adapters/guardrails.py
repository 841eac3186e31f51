"""The gateway's side of the guardrails: ask for a verdict, enforce it.

Block → PERMISSION_DENIED naming the policy and the categories, never echoing the text; redact → continue with
the redacted text. The guardrails service being down fails the request closed (UNAVAILABLE) unless the
operator chose fail-open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import grpc
from google.protobuf.message import Message

from llmops.api.common.v1 import common_pb2
from llmops.api.guardrails.v1 import guardrails_pb2 as pb
from llmops.api.guardrails.v1 import guardrails_pb2_grpc
from llmops.auth import Principal, principal_metadata
from llmops.errors import DeadlineExceeded, PermissionDenied, Unavailable
from llmops.logging import get_logger
from services.gateway.core import Source, groundedness

log = get_logger(__name__)


GROUNDING_SCANNER = "grounding"
"""The output scanner whose findings are sentences the sources do not support."""


@dataclass(frozen=True)
class CheckedAnswer:
    """An answer as the output guardrails let it through."""

    text: str
    groundedness: float | None
    """Share of the checked text its sources support (services.gateway.core.groundedness); None if unchecked."""


class Guard:
    """Checks a question before retrieval and an answer before it is returned."""

    def __init__(
        self,
        stub: guardrails_pb2_grpc.GuardrailsStub,
        *,
        application: str = "assistant",
        timeout_s: float = 2.0,
        fail_open: bool = False,
    ) -> None:
        self.stub = stub
        self.application = application
        self.timeout_s = timeout_s
        self.fail_open = fail_open

    async def question(self, principal: Principal, text: str) -> str:
        """The question to continue with (redacted if the policy says so)."""
        request = pb.CheckInputRequest(text=text, application=self.application)
        verdict = await self._call(self.stub.CheckInput, request, principal)
        return _enforce(verdict, text, "question") if verdict is not None else text

    async def sources(self, principal: Principal, sources: Sequence[Source]) -> list[Source]:
        """The retrieved chunks that may reach the prompt: a chunk carrying instructions for the model (indirect
        injection) is dropped, a redacted one continues redacted; the rest are renumbered from 1."""
        verdicts = await asyncio.gather(
            *(
                self._call(
                    self.stub.CheckDocument,
                    pb.CheckDocumentRequest(text=s.text, application=self.application),
                    principal,
                )
                for s in sources
            )
        )
        kept: list[Source] = []
        for source, verdict in zip(sources, verdicts, strict=True):
            if verdict is not None and verdict.action == pb.ACTION_BLOCK:
                categories = sorted({f.category for f in verdict.findings if f.action == pb.ACTION_BLOCK})
                log.warning("retrieved chunk withheld", chunk_id=source.chunk_id, categories=categories)
                continue
            redacted = verdict is not None and verdict.action == pb.ACTION_REDACT and verdict.redacted_text
            text = verdict.redacted_text if verdict is not None and redacted else source.text
            kept.append(replace(source, text=text, number=len(kept) + 1))
        return kept

    async def answer(self, principal: Principal, text: str, sources: list[str], canary: str = "") -> CheckedAnswer:
        """The answer to return (redacted if the policy says so) and how grounded it is; `canary` is the marker the
        prompt carried."""
        request = pb.CheckOutputRequest(
            answer=text,
            application=self.application,
            sources=[common_pb2.Chunk(text=s) for s in sources],
            canary=canary,
        )
        verdict = await self._call(self.stub.CheckOutput, request, principal)
        if verdict is None:
            return CheckedAnswer(text, None)  # failed open: nothing was checked
        unsupported = [(f.span.start, f.span.end) for f in verdict.findings if f.scanner == GROUNDING_SCANNER]
        return CheckedAnswer(_enforce(verdict, text, "answer"), groundedness(text, unsupported))

    async def _call(
        self, method: Callable[..., Awaitable[pb.Verdict]], request: Message, principal: Principal
    ) -> pb.Verdict | None:
        try:
            return await method(request, timeout=self.timeout_s, metadata=principal_metadata(principal))
        except grpc.aio.AioRpcError as exc:
            if self.fail_open:
                log.warning("guardrails unreachable; failing open", code=exc.code().name)
                return None
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise DeadlineExceeded(f"guardrails did not answer within {self.timeout_s}s") from exc
            raise Unavailable(f"guardrails are unavailable ({exc.code().name}); the request was not checked") from exc


def _enforce(verdict: pb.Verdict, text: str, what: str) -> str:
    if verdict.action == pb.ACTION_BLOCK:
        categories = sorted({f.category for f in verdict.findings if f.action == pb.ACTION_BLOCK})
        raise PermissionDenied(
            f"the {what} was blocked by guardrail policy {verdict.policy_id} v{verdict.policy_version} "
            f"({', '.join(categories)})"
        )
    if verdict.action == pb.ACTION_REDACT and verdict.redacted_text:
        return verdict.redacted_text
    return text
