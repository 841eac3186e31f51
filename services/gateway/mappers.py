"""protobuf ↔ domain conversion for the gateway."""

from __future__ import annotations

from llmops.api.common.v1 import common_pb2
from llmops.api.gateway.v1 import gateway_pb2 as pb
from services.gateway.app import Answer
from services.gateway.core import MAX_SOURCE_CHARS, Source


def citation_to_pb(source: Source) -> common_pb2.Citation:
    return common_pb2.Citation(
        number=source.number,
        document_id=source.document_id,
        document_version=source.document_version,
        chunk_id=source.chunk_id,
        title=source.title,
        source_uri=source.source_uri,
        score=source.score,
        snippet=source.text[:MAX_SOURCE_CHARS],
        location=common_pb2.ChunkLocation(
            start_char=source.start_char,
            end_char=source.end_char,
            page=source.page,
            heading_path=source.heading_path,
        ),
    )


def answer_to_pb(answer: Answer) -> pb.AskResponse:
    u = answer.usage
    return pb.AskResponse(
        interaction_id=answer.interaction_id,
        answer=answer.text,
        citations=[citation_to_pb(s) for s in answer.citations],
        usage=common_pb2.TokenUsage(
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            total_tokens=u.total_tokens,
            cost_usd=u.cost_usd,
        ),
        model=answer.model,
        prompt_name=answer.prompt_name,
        prompt_version=answer.prompt_version,
        timings=pb.Timings(retrieve_ms=answer.retrieve_ms, generate_ms=answer.generate_ms, total_ms=answer.total_ms),
        cached=bool(answer.cached_from),
        cached_from_interaction_id=answer.cached_from,
    )
