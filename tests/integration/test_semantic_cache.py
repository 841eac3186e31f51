"""The semantic answer cache on Qdrant local mode: similarity within a key, expiry, invalidation by citation."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from llmops.auth import AccessScope
from services.gateway.adapters.semantic_cache import SemanticCache
from services.gateway.cache import CachedAnswer, CacheKey, cache_key, scope_fingerprint
from services.gateway.core import Question, Source

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SCOPE = AccessScope(tenant="acme", classifications=("public", "internal"), groups=())
QUESTION = Question(text="q", dataset="", top_k=4, max_tokens=200, temperature=0.0)


def unit(*xs: float) -> list[float]:
    norm = math.sqrt(sum(x * x for x in xs))
    return [x / norm for x in xs] + [0.0] * (8 - len(xs))


def source(document_id: str, version: int) -> Source:
    return Source(1, f"{document_id}:{version}:0", document_id, version, "T", "kb://t", "text", 0.9)


def answer(*sources: Source, text: str = "It is so [1].") -> CachedAnswer:
    return CachedAnswer(text, list(sources), "m", "rag-grounded", 1, "interaction-1", NOW)


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[SemanticCache]:
    client = AsyncQdrantClient(path=str(tmp_path / "cache"))
    yield SemanticCache(client, 8, threshold=0.95, ttl_s=3600)
    await client.close()


async def test_a_close_question_hits_and_a_distant_one_misses(cache: SemanticCache) -> None:
    key = cache_key(SCOPE, QUESTION, "rag-grounded", 1, "")
    await cache.put(key, unit(1, 0.1), answer(source("d1", 1)))
    hit = await cache.lookup(key, unit(1, 0.15), NOW)
    assert hit is not None and hit.text == "It is so [1]." and hit.citations == [source("d1", 1)]
    assert hit.similarity > 0.95 and hit.origin_interaction_id == "interaction-1"
    assert await cache.lookup(key, unit(1, 1), NOW) is None  # cosine 0.77


@pytest.mark.parametrize(
    "change",
    [
        {"scope": scope_fingerprint(AccessScope("acme", ("public",), ()))},
        {"scope": scope_fingerprint(AccessScope("acme", ("public", "internal"), ("hr",)))},
        {"tenant": "globex"},
        {"prompt_version": 2},
        {"model": "large"},
        {"dataset": "hr"},
        {"top_k": 8},
    ],
)
async def test_any_difference_in_the_key_is_a_miss(cache: SemanticCache, change: dict[str, object]) -> None:
    key = cache_key(SCOPE, QUESTION, "rag-grounded", 1, "")
    await cache.put(key, unit(1), answer(source("d1", 1)))
    other: CacheKey = replace(key, **change)  # type: ignore[arg-type]
    assert await cache.lookup(other, unit(1), NOW) is None
    assert await cache.lookup(key, unit(1), NOW) is not None


async def test_answers_expire_after_their_ttl_and_purge_frees_them(cache: SemanticCache) -> None:
    key = cache_key(SCOPE, QUESTION, "rag-grounded", 1, "")
    await cache.put(key, unit(1), answer(source("d1", 1)))
    assert await cache.lookup(key, unit(1), NOW + timedelta(minutes=59)) is not None
    assert await cache.lookup(key, unit(1), NOW + timedelta(minutes=61)) is None
    await cache.purge_expired(NOW + timedelta(minutes=61))
    assert await cache.count() == 0


async def test_a_new_version_or_deletion_of_a_cited_document_removes_the_answers_citing_it(
    cache: SemanticCache,
) -> None:
    key = cache_key(SCOPE, QUESTION, "rag-grounded", 1, "")
    other_tenant = replace(key, tenant="globex")
    await cache.put(key, unit(1, 0), answer(source("d1", 1), source("d2", 3)))
    await cache.put(key, unit(0, 1), answer(source("d2", 4)))
    await cache.put(other_tenant, unit(1, 0), answer(source("d2", 3)))

    await cache.invalidate("acme", "d2", 4, keep_valid_from=True)  # d2 v4 superseded v3
    assert await cache.lookup(key, unit(1, 0), NOW) is None
    assert await cache.lookup(key, unit(0, 1), NOW) is not None  # cites the new version: kept
    assert await cache.lookup(other_tenant, unit(1, 0), NOW) is not None  # another tenant's: untouched

    await cache.invalidate("acme", "d2", 5, keep_valid_from=False)  # deleted after version 4
    assert await cache.lookup(key, unit(0, 1), NOW) is None
    await cache.invalidate("acme", "d2", 5, keep_valid_from=False)  # a redelivered event changes nothing
    assert await cache.count() == 1


async def test_an_answer_stored_after_its_source_changed_is_not_kept(cache: SemanticCache) -> None:
    """The race: a request planned before an update stores its answer after the invalidation ran."""
    key = cache_key(SCOPE, QUESTION, "rag-grounded", 1, "")
    await cache.invalidate("acme", "d1", 2, keep_valid_from=True)
    assert not await cache.put(key, unit(1), answer(source("d1", 1)))  # cites the superseded version
    assert await cache.lookup(key, unit(1), NOW) is None
    assert await cache.put(key, unit(1), answer(source("d1", 2)))  # the current version is fine
    await cache.invalidate("acme", "d9", 4, keep_valid_from=False)  # d9 deleted at version 3
    assert not await cache.put(key, unit(0, 1), answer(source("d9", 3)))
    assert await cache.put(key, unit(0, 1), answer(source("d9", 4)))  # re-created later: a new version
