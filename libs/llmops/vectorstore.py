"""The chunk index in Qdrant: local mode (embedded, a path) or a server (a URL), the same code path.

Embedding writes and retrieval reads; in embedded mode they share one process because Qdrant's local
mode allows one process per storage path, so `open_chunk_index` hands every caller in a process the same
client for the same location.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from llmops.auth import AccessScope
from llmops.sparse import encode_document, encode_query

COLLECTION = "chunks-v2"
DENSE = "dense"
SPARSE = "sparse"


@dataclass(frozen=True)
class ChunkPoint:
    """A chunk with its vector, as stored."""

    chunk_id: str
    vector: Sequence[float]
    payload: dict[str, Any]


@dataclass(frozen=True)
class ScoredPoint:
    """A search hit."""

    chunk_id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)
    vector: list[float] | None = None
    """The dense vector, when the search asked for it (MMR needs it)."""


class ChunkIndex:
    """Upserts, deletes and searches chunk points; point id = chunk id, so writes are idempotent."""

    def __init__(
        self, client: AsyncQdrantClient, dimensions: int, collection: str = COLLECTION, *, local: bool = False
    ) -> None:
        """`local`: Qdrant local mode, which evaluates every filter by scanning all points in Python (130 ms per
        filtered scroll at 10,000 points) and lets one process hold the storage. So a local index keeps each
        document's points in memory for `version_counts` (its writes are the only ones), and ranks searches
        unfiltered before filtering them itself."""
        self.client = client
        self.dimensions = dimensions
        self.collection = collection
        self._ready = asyncio.Lock()
        self._created = False
        self._local = local
        self._catalog: dict[str, dict[int, set[str]]] | None = None
        """document id → version → point ids, in local mode (loaded from the collection on first use)."""

    async def ensure_collection(self) -> None:
        """Creates the collection and its payload indexes once."""
        async with self._ready:
            if self._created:
                return
            if not await self.client.collection_exists(self.collection):
                await self.client.create_collection(
                    self.collection,
                    vectors_config={DENSE: models.VectorParams(size=self.dimensions, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                )
                for key in ("tenant", "document_id", "dataset"):
                    await self.client.create_payload_index(self.collection, key, models.PayloadSchemaType.KEYWORD)
                await self.client.create_payload_index(self.collection, "version", models.PayloadSchemaType.INTEGER)
            self._created = True

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Writes points, waiting until they are searchable."""
        await self.ensure_collection()
        await self.client.upsert(
            self.collection,
            points=[models.PointStruct(id=p.chunk_id, vector=_vectors(p), payload=p.payload) for p in points],
            wait=True,
        )
        if self._local:
            catalog = await self._documents()
            for p in points:
                # A point id is a chunk id: re-upserting it moves nothing, and it belongs to one document version.
                versions = catalog.setdefault(str(p.payload["document_id"]), {})
                versions.setdefault(int(p.payload["version"]), set()).add(str(p.chunk_id))

    async def _documents(self) -> dict[str, dict[int, set[str]]]:
        """The in-memory catalogue of a local index, read from the collection once."""
        if self._catalog is None:
            catalog: dict[str, dict[int, set[str]]] = {}
            offset: Any = None
            while True:
                batch, offset = await self.client.scroll(
                    self.collection, limit=4096, offset=offset, with_payload=["document_id", "version"]
                )
                for point in batch:
                    payload = point.payload or {}
                    versions = catalog.setdefault(str(payload["document_id"]), {})
                    versions.setdefault(int(payload["version"]), set()).add(str(point.id))
                if offset is None:
                    break
            if self._catalog is None:  # another task may have loaded it meanwhile
                self._catalog = catalog
        return self._catalog

    async def newest_version(self, document_id: str) -> int | None:
        """The highest indexed version of a document, if any."""
        await self.ensure_collection()
        points, _ = await self.client.scroll(
            self.collection,
            scroll_filter=_match(document_id=document_id),
            limit=1,
            order_by=models.OrderBy(key="version", direction=models.Direction.DESC),
            with_payload=["version"],
        )
        return int(points[0].payload["version"]) if points and points[0].payload else None

    async def version_counts(self, document_id: str) -> dict[int, int]:
        """How many points each indexed version of a document has; one pass over the document's points."""
        await self.ensure_collection()
        if self._local:
            return {v: len(ids) for v, ids in (await self._documents()).get(document_id, {}).items() if ids}
        counts: dict[int, int] = {}
        offset: Any = None
        while True:
            points, offset = await self.client.scroll(
                self.collection,
                scroll_filter=_match(document_id=document_id),
                limit=1024,
                offset=offset,
                with_payload=["version"],
                with_vectors=False,
            )
            for point in points:
                version = int((point.payload or {})["version"])
                counts[version] = counts.get(version, 0) + 1
            if offset is None:
                return counts

    async def known_vectors(
        self, document_id: str, *, below_version: int, embedding_model: str
    ) -> dict[str, list[float]]:
        """Dense vectors of a document's older chunks by text, from the same model: reusable for unchanged text."""
        await self.ensure_collection()
        condition = _match(document_id=document_id, embedding_model=embedding_model)
        condition.must.append(models.FieldCondition(key="version", range=models.Range(lt=below_version)))  # type: ignore[union-attr]
        known: dict[str, list[float]] = {}
        offset: Any = None
        while True:
            points, offset = await self.client.scroll(
                self.collection,
                scroll_filter=condition,
                limit=256,
                offset=offset,
                with_payload=["text"],
                with_vectors=[DENSE],
            )
            for point in points:
                vector = _dense(point.vector)
                if vector is not None:
                    known[str((point.payload or {}).get("text", ""))] = vector
            if offset is None:
                return known

    async def delete_document(self, document_id: str, *, below_version: int | None = None) -> None:
        """Removes a document's points, or only those of versions older than `below_version`."""
        await self.ensure_collection()
        condition = _match(document_id=document_id)
        if below_version is not None:
            condition.must.append(models.FieldCondition(key="version", range=models.Range(lt=below_version)))  # type: ignore[union-attr]
        await self.client.delete(self.collection, points_selector=models.FilterSelector(filter=condition), wait=True)
        if self._local:
            versions = (await self._documents()).get(document_id, {})
            for version in [v for v in versions if below_version is None or v < below_version]:
                del versions[version]

    async def search(
        self,
        vector: Sequence[float],
        *,
        tenant: str,
        dataset: str,
        limit: int,
        score_threshold: float | None,
        access: AccessScope | None = None,
        hybrid_text: str = "",
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        """Nearest chunks of one tenant (and dataset, when given), only those `access` may read when given.

        With `hybrid_text`, dense and sparse (term) candidates are fused by reciprocal rank; the threshold,
        a cosine similarity, then applies to the dense candidates.
        """
        await self.ensure_collection()
        conditions = {"tenant": tenant, **({"dataset": dataset} if dataset else {})}
        query_filter = _match(**conditions)
        if access is not None:
            query_filter.must.extend(_access_conditions(access))  # type: ignore[union-attr]
        if hybrid_text:
            sparse = encode_query(hybrid_text)
            candidates = max(limit * 4, 20)
            response = await self.client.query_points(
                self.collection,
                prefetch=[
                    models.Prefetch(
                        query=list(vector),
                        using=DENSE,
                        filter=query_filter,
                        limit=candidates,
                        score_threshold=score_threshold,
                    ),
                    models.Prefetch(
                        query=models.SparseVector(indices=list(sparse.indices), values=list(sparse.values)),
                        using=SPARSE,
                        filter=query_filter,
                        limit=candidates,
                    ),
                ],
                query=models.FusionQuery(fusion=models.Fusion.RRF),
                query_filter=query_filter,
                limit=limit,
                with_payload=True,
                with_vectors=[DENSE] if with_vectors else False,
            )
        else:
            if self._local and (scanned := await self._search_then_filter(
                vector, conditions, access, limit, score_threshold, with_vectors
            )) is not None:  # fmt: skip
                return scanned
            response = await self.client.query_points(
                self.collection,
                query=list(vector),
                using=DENSE,
                query_filter=query_filter,
                limit=limit,
                score_threshold=score_threshold,
                with_payload=True,
                with_vectors=[DENSE] if with_vectors else False,
            )
        return [
            ScoredPoint(str(p.id), p.score, dict(p.payload or {}), _dense(p.vector) if with_vectors else None)
            for p in response.points
        ]

    async def _search_then_filter(
        self,
        vector: Sequence[float],
        conditions: dict[str, str],
        access: AccessScope | None,
        limit: int,
        score_threshold: float | None,
        with_vectors: bool,
    ) -> list[ScoredPoint] | None:
        """Local mode evaluates a filter by scanning every point in Python (40 ms at 800 points with the access
        filter, against 0.7 ms unfiltered): rank unfiltered, keep what the filter admits. Exact when `limit`
        candidates pass (any passing point ranked lower scores below them all) or when every candidate above the
        threshold was seen; otherwise None, and the caller asks Qdrant with the filter."""
        fetch = max(limit * 8, 64)
        response = await self.client.query_points(
            self.collection,
            query=list(vector),
            using=DENSE,
            limit=fetch,
            score_threshold=score_threshold,
            with_payload=True,
            with_vectors=[DENSE] if with_vectors else False,
        )
        admitted = [p for p in response.points if _admits(p.payload or {}, conditions, access)]
        if len(admitted) < limit and len(response.points) >= fetch:
            return None
        return [
            ScoredPoint(str(p.id), p.score, dict(p.payload or {}), _dense(p.vector) if with_vectors else None)
            for p in admitted[:limit]
        ]

    async def count(self, **conditions: str | int) -> int:
        """Points matching exact payload values."""
        await self.ensure_collection()
        result = await self.client.count(self.collection, count_filter=_match(**conditions), exact=True)
        return result.count


def _dense(vector: Any) -> list[float] | None:
    if isinstance(vector, dict):
        vector = vector.get(DENSE)
    return [float(x) for x in vector] if isinstance(vector, list) else None


def _vectors(point: ChunkPoint) -> dict[str, Any]:
    sparse = encode_document(str(point.payload.get("text", "")))
    return {
        DENSE: list(point.vector),
        SPARSE: models.SparseVector(indices=list(sparse.indices), values=list(sparse.values)),
    }


def _access_conditions(access: AccessScope) -> list[models.Condition]:
    """Tenant, classification at or below clearance, and no group restriction or a shared group."""
    open_to_all = models.IsEmptyCondition(is_empty=models.PayloadField(key="allowed_groups"))
    groups: list[models.Condition] = [open_to_all]
    if access.groups:
        groups.append(models.FieldCondition(key="allowed_groups", match=models.MatchAny(any=list(access.groups))))
    return [
        models.FieldCondition(key="tenant", match=models.MatchValue(value=access.tenant)),
        models.FieldCondition(key="classification", match=models.MatchAny(any=list(access.classifications))),
        models.Filter(should=groups),
    ]


def _admits(payload: dict[str, Any], conditions: dict[str, str], access: AccessScope | None) -> bool:
    """The payload passes `_match(**conditions)` and `_access_conditions(access)`, evaluated here."""
    if any(payload.get(key) != value for key, value in conditions.items()):
        return False
    if access is None:
        return True
    if payload.get("tenant") != access.tenant or payload.get("classification") not in access.classifications:
        return False
    allowed = payload.get("allowed_groups")
    if allowed is None or allowed == []:  # what IsEmptyCondition admits
        return True
    allowed = [allowed] if isinstance(allowed, str) else allowed
    return any(group in allowed for group in access.groups)


def _match(**conditions: str | int) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key=k, match=models.MatchValue(value=v)) for k, v in conditions.items()]
    )


_clients: dict[str, AsyncQdrantClient] = {}


def open_qdrant(url: str | None, path: Path) -> AsyncQdrantClient:
    """The process-wide client for a Qdrant server URL, or for a local-mode storage path."""
    key = url or str(path.resolve())
    if key not in _clients:
        if url:
            _clients[key] = AsyncQdrantClient(url=url)
        else:
            path.mkdir(parents=True, exist_ok=True)
            _clients[key] = AsyncQdrantClient(path=str(path))
    return _clients[key]


async def close_qdrant() -> None:
    """Closes every client this process opened."""
    while _clients:
        _, client = _clients.popitem()
        await client.close()
