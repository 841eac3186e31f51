"""The gateway's use case: retrieve → generate → cite → publish, streamed or whole."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import grpc

from llmops.api.common.v1 import common_pb2
from llmops.api.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from llmops.api.inference.v1 import inference_pb2, inference_pb2_grpc
from llmops.api.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from llmops.auth import AccessScope, Principal, principal_metadata
from llmops.bus import Bus
from llmops.errors import (
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from llmops.events import CitedSource, InteractionCompleted, Usage, utcnow
from llmops.logging import get_logger
from llmops.observability.metrics import count_cache_lookup
from llmops.prompts.builtin import RAG_PROMPT
from llmops.prompts.store import PromptCatalog
from services.gateway.adapters.guardrails import Guard
from services.gateway.adapters.semantic_cache import SemanticCache
from services.gateway.cache import CachedAnswer, CacheKey, cache_key, cacheable
from services.gateway.core import (
    NO_SOURCES_ANSWER,
    Question,
    SentenceReleaser,
    Source,
    cited_sources,
    rag_variables,
    split_whitespace,
)

log = get_logger(__name__)


@dataclass
class Answer:
    """A finished answer with everything the response and the interaction event carry."""

    interaction_id: str
    text: str
    citations: list[Source]
    model: str
    usage: Usage
    retrieve_ms: float
    generate_ms: float
    total_ms: float
    prompt_name: str = ""
    prompt_version: int = 0
    cached_from: str = ""
    """The interaction whose answer the semantic cache served; empty when generated now."""
    groundedness: float | None = None
    """Share of the answer its sources support, from the output guardrails; None when they did not check it."""
    extra: dict[str, str] = field(default_factory=dict)


_PASSED_THROUGH: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}
"""Downstream refusals the caller can act on keep their status; anything else is an outage to them."""


def _downstream_error(service: str, exc: grpc.aio.AioRpcError, timeout_s: float) -> DomainError:
    code = exc.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"{service} did not answer within {timeout_s}s")
    if code in _PASSED_THROUGH:
        return _PASSED_THROUGH[code](f"{service}: {exc.details()}")
    return Unavailable(f"{service} is unavailable ({code.name}): {exc.details()}")


def _sources(response: retrieval_pb2.SearchResponse) -> list[Source]:
    return [
        Source(
            number=i,
            chunk_id=h.chunk.chunk_id,
            document_id=h.chunk.document_id,
            document_version=h.chunk.document_version,
            title=h.chunk.title,
            source_uri=h.chunk.source_uri,
            text=h.chunk.text,
            score=h.score,
            heading_path=list(h.chunk.location.heading_path),
            start_char=h.chunk.location.start_char,
            end_char=h.chunk.location.end_char,
            page=h.chunk.location.page,
        )
        for i, h in enumerate(response.hits, start=1)
    ]


@dataclass
class AnswerCache:
    """What the semantic cache needs: the query's embedding, the prompt version a user gets, the store."""

    embedding: embedding_pb2_grpc.EmbeddingStub
    catalog: PromptCatalog
    store: SemanticCache
    embed_timeout_s: float = 10.0


@dataclass(frozen=True)
class Plan:
    """A question's cache key, embedding and the exact prompt version it will be answered with."""

    key: CacheKey
    vector: list[float]
    prompt_version: int


class Assistant:
    """Answers questions from the caller's documents; similar questions under the same key share an answer."""

    def __init__(
        self,
        retrieval: retrieval_pb2_grpc.RetrievalStub,
        inference: inference_pb2_grpc.InferenceStub,
        bus: Bus,
        *,
        retrieval_timeout_s: float,
        generation_timeout_s: float,
        hybrid: bool = True,
        prompt_name: str = RAG_PROMPT,
        cache: AnswerCache | None = None,
        guard: Guard | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.hybrid = hybrid
        self.prompt_name = prompt_name
        self.cache = cache
        self.guard = guard
        self.clock = clock
        self.retrieval = retrieval
        self.inference = inference
        self.bus = bus
        self.retrieval_timeout_s = retrieval_timeout_s
        self.generation_timeout_s = generation_timeout_s

    async def retrieve(self, principal: Principal, question: Question, vector: Sequence[float] = ()) -> list[Source]:
        """The sources for a question, numbered from 1."""
        try:
            response = await self.retrieval.Search(
                retrieval_pb2.SearchRequest(
                    query=question.text,
                    dataset=question.dataset,
                    top_k=question.top_k,
                    hybrid=self.hybrid,
                    query_vector=vector,
                ),
                timeout=self.retrieval_timeout_s,
                metadata=principal_metadata(principal),
            )
        except grpc.aio.AioRpcError as exc:
            raise _downstream_error("retrieval", exc, self.retrieval_timeout_s) from exc
        return _sources(response)

    async def _plan(self, principal: Principal, question: Question) -> Plan | None:
        """The cache key for a question (the prompt version resolved here, so the answer uses exactly it)."""
        if self.cache is None or question.temperature > 0 or question.bypass_cache or question.prompt_version:
            return None  # sampling asks for variety, evaluations for a fresh answer: never cached
        name = question.prompt_name or self.prompt_name
        version, _ = await self.cache.catalog.resolve(
            principal.tenant, name, label=question.prompt_label, user=principal.subject
        )
        try:
            response = await self.cache.embedding.Embed(
                embedding_pb2.EmbedRequest(texts=[question.text], kind=embedding_pb2.INPUT_KIND_QUERY),
                timeout=self.cache.embed_timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            raise _downstream_error("embedding", exc, self.cache.embed_timeout_s) from exc
        key = cache_key(AccessScope.of(principal), question, name, version.version, version.model)
        return Plan(key, list(response.vectors[0].values), version.version)

    async def ask(
        self, principal: Principal, question: Question, *, streaming: bool = False
    ) -> AsyncIterator[list[Source] | str | Answer]:
        """Yields the sources, then answer text pieces, then the finished Answer (already published).

        With `streaming` and guardrails on, text is released a sentence at a time, each sentence checked by the
        output guardrails first (redacted, or the stream ends with the block), so a caller never reads what the
        final check of the whole answer would have stopped.
        """
        started = time.perf_counter()
        interaction_id = str(uuid.uuid4())
        if self.guard is not None:
            checked = await self.guard.question(principal, question.text)
            question = replace(question, text=checked)  # personal data or secrets redacted by policy
        plan = await self._plan(principal, question)
        if plan is not None and self.cache is not None:
            hit = await self._cached(self.cache, plan)
            if hit is not None:
                async for served in self._serve_cached(principal, question, hit, interaction_id, started):
                    yield served
                return
        sources = await self.retrieve(principal, question, plan.vector if plan else ())
        if self.guard is not None and sources:
            sources = await self.guard.sources(principal, sources)  # instructions hidden in documents stop here
        retrieve_ms = (time.perf_counter() - started) * 1000
        yield sources
        model, usage, text, generate_ms = "", Usage(), NO_SOURCES_ANSWER, 0.0
        prompt_name, prompt_version = "", 0
        # A per-request secret in the system message: an answer repeating it leaked the prompt (guardrails check).
        canary = f"cnry-{secrets.token_hex(8)}" if self.guard is not None else ""
        if sources:
            version = question.prompt_version or (plan.prompt_version if plan else 0)
            generated = self._generate(principal, question, sources, version, canary)
            async for item in self._released(principal, generated, sources, canary) if streaming else generated:
                if isinstance(item, str):
                    yield item
                else:
                    model, generate_ms = item.model, item.generate_ms
                    prompt_name, prompt_version = item.prompt_name, item.prompt_version
                    usage = Usage(
                        prompt_tokens=item.usage.prompt_tokens,
                        completion_tokens=item.usage.completion_tokens,
                        total_tokens=item.usage.total_tokens,
                        cost_usd=item.usage.cost_usd,
                    )
                    text = item.text
        else:
            yield text
        grounded: float | None = None
        if self.guard is not None and sources:
            verdict = await self.guard.answer(principal, text, [s.text for s in sources], canary)
            text, grounded = verdict.text, verdict.groundedness
        # A model that cites no number still answered from exactly these sources, so they are the citations.
        citations = cited_sources(text, sources) or (sources if sources and text != NO_SOURCES_ANSWER else [])
        answer = Answer(
            interaction_id=interaction_id,
            text=text,
            citations=citations,
            model=model,
            usage=usage,
            retrieve_ms=round(retrieve_ms, 2),
            generate_ms=round(generate_ms, 2),
            total_ms=round((time.perf_counter() - started) * 1000, 2),
            prompt_name=prompt_name,
            prompt_version=prompt_version,
            groundedness=grounded,
        )
        if plan is not None and self.cache is not None and cacheable(question, text, citations, NO_SOURCES_ANSWER):
            await self._keep(
                self.cache,
                plan,
                CachedAnswer(text, citations, model, prompt_name, prompt_version, interaction_id, self.clock()),
            )
        await self._finish(principal, question, answer)
        yield answer

    async def _released(
        self,
        principal: Principal,
        generated: AsyncIterator[str | inference_pb2.GenerateResponse],
        sources: list[Source],
        canary: str,
    ) -> AsyncIterator[str | inference_pb2.GenerateResponse]:
        """The generation stream with its text released a checked sentence at a time (as is, without guardrails)."""
        if self.guard is None:
            async for item in generated:
                yield item
            return
        texts = [s.text for s in sources]
        releaser = SentenceReleaser()
        async for item in generated:
            if isinstance(item, str):
                if sentences := releaser.feed(item):
                    yield await self._checked(principal, sentences, texts, canary)
                continue
            if rest := releaser.flush():
                yield await self._checked(principal, rest, texts, canary)
            yield item
        if rest := releaser.flush():
            yield await self._checked(principal, rest, texts, canary)

    async def _checked(self, principal: Principal, text: str, sources: list[str], canary: str) -> str:
        """`text` as the output guardrails let it through (spacing kept); raises if they block it."""
        lead, core, trail = split_whitespace(text)
        if self.guard is None or not core:
            return text
        return lead + (await self.guard.answer(principal, core, sources, canary)).text + trail

    async def _cached(self, cache: AnswerCache, plan: Plan) -> CachedAnswer | None:
        """A cached answer, or None; the cache is best-effort, so its failure only costs a generation."""
        try:
            hit = await cache.store.lookup(plan.key, plan.vector, self.clock())
        except Exception as exc:  # noqa: BLE001 - any cache failure degrades to a miss
            log.warning("semantic cache lookup failed", error=f"{type(exc).__name__}: {exc}")
            hit = None
        count_cache_lookup(hit is not None)
        return hit

    async def _keep(self, cache: AnswerCache, plan: Plan, answer: CachedAnswer) -> None:
        try:
            await cache.store.put(plan.key, plan.vector, answer)
        except Exception as exc:  # noqa: BLE001 - an answer already given must still be published
            log.warning("semantic cache write failed", error=f"{type(exc).__name__}: {exc}")

    async def _serve_cached(
        self, principal: Principal, question: Question, hit: CachedAnswer, interaction_id: str, started: float
    ) -> AsyncIterator[list[Source] | str | Answer]:
        yield hit.citations
        yield hit.text
        answer = Answer(
            interaction_id=interaction_id,
            text=hit.text,
            citations=hit.citations,
            model=hit.model,
            usage=Usage(),
            retrieve_ms=0.0,
            generate_ms=0.0,
            total_ms=round((time.perf_counter() - started) * 1000, 2),
            prompt_name=hit.prompt_name,
            prompt_version=hit.prompt_version,
            cached_from=hit.origin_interaction_id,
        )
        await self._finish(principal, question, answer)
        yield answer

    async def _finish(self, principal: Principal, question: Question, answer: Answer) -> None:
        await self.bus.publish(self._event(principal, question, answer))
        log.info(
            "question answered",
            interaction_id=answer.interaction_id,
            cited=len(answer.citations),
            cached=bool(answer.cached_from),
            retrieve_ms=answer.retrieve_ms,
            generate_ms=answer.generate_ms,
            total_ms=answer.total_ms,
            cached_from=answer.cached_from,
            groundedness=answer.groundedness,
        )

    async def on_document_changed(self, tenant: str, document_id: str, version: int, *, deleted: bool) -> None:
        """Drops cached answers citing a superseded (or, after deletion, any) version of a document."""
        if self.cache is not None:
            valid_from = version + 1 if deleted else version
            await self.cache.store.invalidate(tenant, document_id, valid_from, keep_valid_from=not deleted)

    async def _generate(
        self, principal: Principal, question: Question, sources: list[Source], prompt_version: int = 0, canary: str = ""
    ) -> AsyncIterator[str | inference_pb2.GenerateResponse]:
        request = inference_pb2.GenerateRequest(
            prompt=inference_pb2.PromptRef(
                name=question.prompt_name or self.prompt_name,
                label=question.prompt_label,
                version=prompt_version,
                variables=rag_variables(question.text, sources),
            ),
            parameters=common_pb2.GenerationParameters(
                max_tokens=question.max_tokens, temperature=question.temperature
            ),
            canary=canary,
            model=question.model,
        )
        call = self.inference.GenerateStream(
            request, timeout=self.generation_timeout_s, metadata=principal_metadata(principal)
        )
        try:
            async for message in call:
                if message.WhichOneof("event") == "delta":
                    yield message.delta
                else:
                    yield message.done
        except grpc.aio.AioRpcError as exc:
            raise _downstream_error("inference", exc, self.generation_timeout_s) from exc
        finally:
            call.cancel()

    @staticmethod
    def _event(principal: Principal, question: Question, answer: Answer) -> InteractionCompleted:
        return InteractionCompleted(
            tenant=principal.tenant,
            interaction_id=answer.interaction_id,
            user=principal.subject,
            query=question.text,
            answer=answer.text,
            citations=[
                CitedSource(
                    number=s.number,
                    document_id=s.document_id,
                    document_version=s.document_version,
                    chunk_id=s.chunk_id,
                    source_uri=s.source_uri,
                    score=s.score,
                )
                for s in answer.citations
            ],
            model=answer.model,
            prompt_name=answer.prompt_name,
            prompt_version=answer.prompt_version,
            usage=answer.usage,
            retrieve_ms=answer.retrieve_ms,
            generate_ms=answer.generate_ms,
            total_ms=answer.total_ms,
            cached_from=answer.cached_from,
            groundedness=answer.groundedness,
        )
