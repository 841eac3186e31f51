"""The semantic answer cache in Qdrant: one point per cached answer, its vector the question's embedding.

Lookup is a vector search filtered on the exact key fields and on expiry; invalidation deletes by payload
filter (the documents an answer cited). Local mode keeps its own storage path (the gateway's process owns it);
with a Qdrant server every gateway replica shares the cache.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from services.gateway.cache import CachedAnswer, CacheKey, document_refs
from services.gateway.core import Source

COLLECTION = "semantic-cache-v1"
KEYWORD_FIELDS = ("tenant", "scope", "prompt_name", "model", "dataset", "documents", "document_versions")


class SemanticCache:
    """Answers by question similarity within one exact key."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        dimensions: int,
        *,
        threshold: float = 0.92,
        ttl_s: float = 86_400.0,
        collection: str = COLLECTION,
    ) -> None:
        self.client = client
        self.dimensions = dimensions
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.collection = collection
        self._ready = False
        self._lock = asyncio.Lock()

    async def ensure_collection(self) -> None:
        """Creates the collection and its payload indexes (used by a Qdrant server) once."""
        async with self._lock:
            if self._ready:
                return
            if not await self.client.collection_exists(self.collection):
                await self.client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=self.dimensions, distance=models.Distance.COSINE),
                )
                for name in KEYWORD_FIELDS:
                    await self.client.create_payload_index(self.collection, name, models.PayloadSchemaType.KEYWORD)
                await self.client.create_payload_index(self.collection, "expires_at", models.PayloadSchemaType.FLOAT)
            self._ready = True

    async def lookup(self, key: CacheKey, vector: list[float], now: datetime) -> CachedAnswer | None:
        """The most similar fresh answer under `key`, if one is at least `threshold` similar."""
        await self.ensure_collection()
        conditions: list[models.Condition] = [
            models.FieldCondition(key=name, match=models.MatchValue(value=value))
            for name, value in key.fields().items()
        ]
        conditions.append(models.FieldCondition(key="expires_at", range=models.Range(gt=now.timestamp())))
        response = await self.client.query_points(
            self.collection,
            query=vector,
            query_filter=models.Filter(must=conditions),
            limit=1,
            score_threshold=self.threshold,
            with_payload=True,
        )
        if not response.points:
            return None
        point = response.points[0]
        return _answer(point.payload or {}, point.score)

    async def put(self, key: CacheKey, vector: list[float], answer: CachedAnswer) -> None:
        """Keeps an answer under `key` until its TTL or until a document it cites changes."""
        await self.ensure_collection()
        documents, versions = document_refs(answer.citations)
        payload: dict[str, Any] = {
            **key.fields(),
            "documents": documents,
            "document_versions": versions,
            "expires_at": (answer.created_at + timedelta(seconds=self.ttl_s)).timestamp(),
            "answer": json.dumps(
                {
                    "text": answer.text,
                    "citations": [asdict(s) for s in answer.citations],
                    "model": answer.model,
                    "prompt_name": answer.prompt_name,
                    "prompt_version": answer.prompt_version,
                    "origin_interaction_id": answer.origin_interaction_id,
                    "created_at": answer.created_at.isoformat(),
                }
            ),
        }
        point = models.PointStruct(id=str(uuid.uuid4()), vector=vector, payload=payload)
        await self.client.upsert(self.collection, points=[point], wait=True)

    async def invalidate(self, tenant: str, document_id: str, keep_version: int | None = None) -> None:
        """Removes the tenant's answers citing `document_id`, except those citing `keep_version` (the new one)."""
        await self.ensure_collection()
        must_not = (
            [
                models.FieldCondition(
                    key="document_versions", match=models.MatchValue(value=f"{document_id}@{keep_version}")
                )
            ]
            if keep_version is not None
            else []
        )
        selector = models.Filter(
            must=[
                models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant)),
                models.FieldCondition(key="documents", match=models.MatchValue(value=document_id)),
            ],
            must_not=must_not,
        )
        await self.client.delete(self.collection, points_selector=models.FilterSelector(filter=selector), wait=True)

    async def purge_expired(self, now: datetime) -> None:
        """Deletes answers past their TTL (lookups already ignore them; this frees the space)."""
        await self.ensure_collection()
        expired = models.Filter(must=[models.FieldCondition(key="expires_at", range=models.Range(lte=now.timestamp()))])
        await self.client.delete(self.collection, points_selector=models.FilterSelector(filter=expired), wait=True)

    async def count(self) -> int:
        await self.ensure_collection()
        return (await self.client.count(self.collection, exact=True)).count


def _answer(payload: dict[str, Any], score: float) -> CachedAnswer:
    body = json.loads(payload["answer"])
    return CachedAnswer(
        text=body["text"],
        citations=[Source(**c) for c in body["citations"]],
        model=body["model"],
        prompt_name=body["prompt_name"],
        prompt_version=body["prompt_version"],
        origin_interaction_id=body["origin_interaction_id"],
        created_at=datetime.fromisoformat(body["created_at"]).astimezone(UTC),
        similarity=score,
    )
