"""The semantic answer cache in Qdrant: one point per cached answer, its vector the question's embedding.

Lookup is a vector search filtered on the exact key fields and on expiry; invalidation deletes by payload
filter (the documents an answer cited). Local mode keeps its own storage path (the gateway's process owns it);
with a Qdrant server every gateway replica shares the cache.
"""

from __future__ import annotations

import asyncio
import json
import time
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
        self.watermarks = f"{collection}-watermarks"
        """Per document: the first version still valid, so an answer stored late (during an invalidation) is
        caught: `put` writes, then checks the watermark; `invalidate` sets the watermark, then deletes."""
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
            if not await self.client.collection_exists(self.watermarks):
                await self.client.create_collection(
                    self.watermarks, vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT)
                )
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

    async def put(self, key: CacheKey, vector: list[float], answer: CachedAnswer) -> bool:
        """Keeps an answer under `key` until its TTL or until a document it cites changes; False if a cited
        document changed meanwhile (then nothing is kept)."""
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
        point_id = str(uuid.uuid4())
        point = models.PointStruct(id=point_id, vector=vector, payload=payload)
        await self.client.upsert(self.collection, points=[point], wait=True)
        if await self._cites_stale(key.tenant, answer.citations):
            await self.client.delete(self.collection, points_selector=models.PointIdsList(points=[point_id]), wait=True)
            return False
        return True

    async def _cites_stale(self, tenant: str, citations: list[Source]) -> bool:
        cited = {s.document_id: s.document_version for s in citations}
        ids = [_watermark_id(tenant, document_id) for document_id in cited]
        marks = await self.client.retrieve(self.watermarks, ids=ids, with_payload=True)
        return any(
            cited.get(str((m.payload or {}).get("document_id")), 0) < int((m.payload or {}).get("valid_from", 0))
            for m in marks
        )

    async def invalidate(self, tenant: str, document_id: str, valid_from: int, *, keep_valid_from: bool) -> None:
        """Removes the tenant's answers citing versions of `document_id` before `valid_from`.

        A new version passes its number with `keep_valid_from` (answers already citing it stay); a deletion
        passes the last version + 1. The watermark is written first, so an answer stored concurrently is
        caught by `put`'s check or by this delete.
        """
        await self.ensure_collection()
        mark = models.PointStruct(
            id=_watermark_id(tenant, document_id),
            vector=[1.0],
            payload={"tenant": tenant, "document_id": document_id, "valid_from": valid_from, "at": time.time()},
        )
        await self.client.upsert(self.watermarks, points=[mark], wait=True)
        must_not = (
            [
                models.FieldCondition(
                    key="document_versions", match=models.MatchValue(value=f"{document_id}@{valid_from}")
                )
            ]
            if keep_valid_from
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
        """Deletes answers past their TTL, and watermarks older than any answer could be (frees the space)."""
        await self.ensure_collection()
        expired = models.Filter(must=[models.FieldCondition(key="expires_at", range=models.Range(lte=now.timestamp()))])
        await self.client.delete(self.collection, points_selector=models.FilterSelector(filter=expired), wait=True)
        old = models.Filter(
            must=[models.FieldCondition(key="at", range=models.Range(lt=now.timestamp() - 2 * self.ttl_s))]
        )
        await self.client.delete(self.watermarks, points_selector=models.FilterSelector(filter=old), wait=True)

    async def count(self) -> int:
        await self.ensure_collection()
        return (await self.client.count(self.collection, exact=True)).count


def _watermark_id(tenant: str, document_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"llmops-cache-watermark/{tenant}/{document_id}"))


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
