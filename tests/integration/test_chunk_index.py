"""The chunk index on real Qdrant local mode: filters, versions, idempotent writes."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from llmops import ids
from llmops.auth import AccessScope, Principal
from llmops.events import Classification
from llmops.vectorstore import ChunkIndex, ChunkPoint

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant:UserWarning"),
]

DIMENSIONS = 384


def direction(*weights: tuple[int, float]) -> list[float]:
    """A vector with the given weights on the given axes; Qdrant's cosine distance normalises it."""
    vector = [0.0] * DIMENSIONS
    for axis, weight in weights:
        vector[axis] = weight
    return vector


def point(
    document: str, version: int, index: int, axis: int, *, tenant: str = "acme", dataset: str = "hr", text: str = ""
) -> ChunkPoint:
    return ChunkPoint(
        ids.chunk_id(document, version, index),
        direction((axis, 1.0)),
        {
            "tenant": tenant,
            "document_id": document,
            "version": version,
            "dataset": dataset,
            "chunk_index": index,
            "text": text or f"{document} v{version} #{index}",
        },
    )


@pytest.fixture(params=[False, True], ids=["server-style", "local"])
async def index(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[ChunkIndex]:
    """Every behaviour holds both ways: filters evaluated by Qdrant, and the local-mode shortcuts."""
    client = AsyncQdrantClient(path=str(tmp_path / "qdrant"))
    yield ChunkIndex(client, DIMENSIONS, local=request.param)
    await client.close()


async def test_an_empty_index_finds_nothing_and_knows_no_versions(index: ChunkIndex) -> None:
    """The collection is created on first use; reads on it are empty, not errors."""
    assert await index.search(direction((0, 1.0)), tenant="acme", dataset="", limit=5, score_threshold=None) == []
    assert await index.newest_version("missing") is None
    assert await index.count(tenant="acme") == 0


async def test_search_returns_the_nearest_chunks_first_with_their_payload(index: ChunkIndex) -> None:
    """Hits are ordered by cosine similarity and carry the stored payload."""
    await index.upsert([point("doc", 1, i, axis=i, text=f"text {i}") for i in range(3)])
    query = direction((1, 1.0), (2, 0.5))
    hits = await index.search(query, tenant="acme", dataset="", limit=5, score_threshold=None)
    assert [h.chunk_id for h in hits] == [ids.chunk_id("doc", 1, i) for i in (1, 2, 0)]
    assert [round(h.score, 4) for h in hits] == [round(1 / 1.25**0.5, 4), round(0.5 / 1.25**0.5, 4), 0.0]
    assert hits[0].payload == {
        "tenant": "acme",
        "document_id": "doc",
        "version": 1,
        "dataset": "hr",
        "chunk_index": 1,
        "text": "text 1",
    }


async def test_limit_and_score_threshold_cut_the_results(index: ChunkIndex) -> None:
    """At most `limit` hits, none below the threshold."""
    await index.upsert([point("doc", 1, i, axis=i) for i in range(3)])
    query = direction((0, 1.0), (1, 0.6))
    limited = await index.search(query, tenant="acme", dataset="", limit=1, score_threshold=None)
    assert [h.chunk_id for h in limited] == [ids.chunk_id("doc", 1, 0)]
    above = await index.search(query, tenant="acme", dataset="", limit=10, score_threshold=0.3)
    assert [h.chunk_id for h in above] == [ids.chunk_id("doc", 1, 0), ids.chunk_id("doc", 1, 1)]


async def test_the_tenant_filter_isolates_tenants(index: ChunkIndex) -> None:
    """A tenant never sees another tenant's chunks, even identical ones."""
    await index.upsert([point("doc-a", 1, 0, axis=0, tenant="acme"), point("doc-g", 1, 0, axis=0, tenant="globex")])
    for tenant, document in (("acme", "doc-a"), ("globex", "doc-g")):
        hits = await index.search(direction((0, 1.0)), tenant=tenant, dataset="", limit=10, score_threshold=None)
        assert [(h.payload["tenant"], h.payload["document_id"]) for h in hits] == [(tenant, document)]
    assert await index.search(direction((0, 1.0)), tenant="initech", dataset="", limit=10, score_threshold=None) == []


async def test_the_dataset_filter_narrows_a_tenants_search(index: ChunkIndex) -> None:
    """A dataset restricts the hits; an empty dataset means all of the tenant's."""
    await index.upsert([point("hr-doc", 1, 0, axis=0, dataset="hr"), point("eng-doc", 1, 0, axis=1, dataset="eng")])
    query = direction((0, 1.0), (1, 1.0))

    async def documents(dataset: str) -> set[str]:
        hits = await index.search(query, tenant="acme", dataset=dataset, limit=10, score_threshold=None)
        return {h.payload["document_id"] for h in hits}

    assert await documents("hr") == {"hr-doc"}
    assert await documents("eng") == {"eng-doc"}
    assert await documents("") == {"hr-doc", "eng-doc"}
    assert await documents("legal") == set()


async def test_re_upserting_the_same_ids_overwrites_instead_of_duplicating(index: ChunkIndex) -> None:
    """Point id = chunk id, so a redelivered event leaves one point per chunk with the latest payload."""
    await index.upsert([point("doc", 1, 0, axis=0, text="old"), point("doc", 1, 1, axis=1)])
    await index.upsert([point("doc", 1, 0, axis=0, text="new"), point("doc", 1, 1, axis=1)])
    assert await index.count(document_id="doc") == 2
    (hit,) = await index.search(direction((0, 1.0)), tenant="acme", dataset="", limit=1, score_threshold=None)
    assert hit.payload["text"] == "new"


async def test_newest_version_is_the_highest_whatever_the_write_order(index: ChunkIndex) -> None:
    """Versions are compared as integers, not by insertion order."""
    await index.upsert([point("doc", 10, 0, axis=0)])
    await index.upsert([point("doc", 2, 0, axis=1), point("doc", 9, 0, axis=2)])
    await index.upsert([point("other", 11, 0, axis=3)])
    assert await index.newest_version("doc") == 10
    assert await index.newest_version("other") == 11


async def test_version_counts_tally_each_version_of_one_document(index: ChunkIndex) -> None:
    """One pass gives what indexing needs: the newest version and whether a version is complete."""
    await index.upsert([point("doc", 1, i, axis=i) for i in range(3)] + [point("doc", 2, 0, axis=5)])
    await index.upsert([point("other", 7, 0, axis=6)])
    assert await index.version_counts("doc") == {1: 3, 2: 1}
    assert await index.version_counts("missing") == {}


async def test_deleting_below_a_version_removes_only_older_versions_of_that_document(index: ChunkIndex) -> None:
    """delete_document(below_version=2) keeps versions 2 and 3 and other documents."""
    await index.upsert(
        [point("doc", v, i, axis=v * 10 + i) for v in (1, 2, 3) for i in range(2)] + [point("other", 1, 0, axis=0)]
    )
    await index.delete_document("doc", below_version=2)
    assert await index.count(document_id="doc", version=1) == 0  # type: ignore[arg-type]
    assert await index.count(document_id="doc") == 4
    assert await index.count(document_id="other") == 1
    hits = await index.search(direction((10, 1.0)), tenant="acme", dataset="", limit=10, score_threshold=0.5)
    assert hits == []


async def test_deleting_a_document_removes_all_its_versions_only(index: ChunkIndex) -> None:
    """A tombstone clears the document; its neighbours stay."""
    await index.upsert([point("doc", 1, 0, axis=0), point("doc", 2, 0, axis=1), point("other", 1, 0, axis=2)])
    await index.delete_document("doc")
    assert await index.count(document_id="doc") == 0
    assert await index.newest_version("doc") is None
    assert await index.count(tenant="acme") == 1


async def test_points_survive_reopening_the_local_storage(tmp_path: Path) -> None:
    """Local mode persists to its path, so a restarted service finds its index."""
    path = str(tmp_path / "qdrant")
    first = AsyncQdrantClient(path=path)
    await ChunkIndex(first, DIMENSIONS).upsert([point("doc", 3, 0, axis=0)])
    await first.close()
    second = AsyncQdrantClient(path=path)
    try:
        reopened = ChunkIndex(second, DIMENSIONS)
        assert await reopened.count(document_id="doc") == 1
        assert await reopened.newest_version("doc") == 3
    finally:
        await second.close()


async def test_access_scope_hides_chunks_above_clearance_and_outside_the_callers_groups(index: ChunkIndex) -> None:
    """Restricted chunks reach only restricted clearance; group-limited chunks only members; other tenants never."""

    def labelled(document: str, classification: str, groups: list[str], tenant: str = "acme") -> ChunkPoint:
        base = point(document, 1, 0, axis=0, tenant=tenant)
        return ChunkPoint(
            base.chunk_id, base.vector, {**base.payload, "classification": classification, "allowed_groups": groups}
        )

    await index.upsert(
        [
            labelled("public", "public", []),
            labelled("internal", "internal", []),
            labelled("secret", "restricted", []),
            labelled("hr-only", "internal", ["hr"]),
            labelled("other-tenant", "public", [], tenant="globex"),
        ]
    )

    async def visible(clearance: Classification, groups: tuple[str, ...] = ()) -> set[str]:
        scope = AccessScope.of(Principal(tenant="acme", subject="u", groups=groups, clearance=clearance))
        hits = await index.search(
            direction((0, 1.0)), tenant="acme", dataset="", limit=10, score_threshold=None, access=scope
        )
        return {h.payload["document_id"] for h in hits}

    assert await visible(Classification.INTERNAL) == {"public", "internal"}
    assert await visible(Classification.INTERNAL, ("hr",)) == {"public", "internal", "hr-only"}
    assert await visible(Classification.RESTRICTED, ("sales",)) == {"public", "internal", "secret"}
    assert await visible(Classification.PUBLIC, ("hr",)) == {"public"}


async def test_hybrid_search_finds_an_exact_term_that_dense_similarity_ranks_low(index: ChunkIndex) -> None:
    """Reciprocal-rank fusion lets the term match (an identifier) rise above a closer dense vector."""
    await index.upsert(
        [
            point("near", 1, 0, axis=0, text="general advice about configuration files"),
            point("exact", 1, 0, axis=1, text="set LLMOPS_GATEWAY_GRPC__PORT to change the gateway port"),
        ]
    )
    query = direction((0, 1.0), (1, 0.2))
    dense = await index.search(query, tenant="acme", dataset="", limit=1, score_threshold=None)
    hybrid = await index.search(
        query, tenant="acme", dataset="", limit=2, score_threshold=None, hybrid_text="llmops_gateway_grpc__port"
    )
    assert dense[0].payload["document_id"] == "near"
    assert {h.payload["document_id"] for h in hybrid} == {"near", "exact"}
    assert hybrid[0].payload["document_id"] == "exact"


async def test_a_search_can_return_the_dense_vectors_for_mmr(index: ChunkIndex) -> None:
    """with_vectors brings back each hit's dense vector (normalised by cosine distance)."""
    await index.upsert([point("doc", 1, 0, axis=3)])
    (hit,) = await index.search(
        direction((3, 1.0)), tenant="acme", dataset="", limit=1, score_threshold=None, with_vectors=True
    )
    assert hit.vector is not None and len(hit.vector) == DIMENSIONS and abs(hit.vector[3] - 1.0) < 1e-6


async def test_a_local_index_learns_the_points_already_stored_and_agrees_with_the_collection(
    tmp_path: Path,
) -> None:
    """Points written before the local index started (an earlier run) are in its catalogue; after more writes
    and deletes its counts equal what the collection itself says."""
    client = AsyncQdrantClient(path=str(tmp_path / "qdrant"))
    try:
        earlier = ChunkIndex(client, DIMENSIONS)
        await earlier.upsert([point("a", 1, i, i) for i in range(3)] + [point("b", 1, 0, 5)])
        local, shared = ChunkIndex(client, DIMENSIONS, local=True), ChunkIndex(client, DIMENSIONS)
        assert await local.version_counts("a") == {1: 3}
        await local.upsert([point("a", 2, i, i) for i in range(2)] + [point("a", 2, 0, 0)])  # a repeat
        await local.delete_document("a", below_version=2)
        await local.upsert([point("c", 1, 0, 7)])
        await local.delete_document("b")
        for document in ("a", "b", "c", "never"):
            assert await local.version_counts(document) == await shared.version_counts(document), document
        assert await local.version_counts("a") == {2: 2}
    finally:
        await client.close()


async def test_a_local_search_returns_exactly_what_the_filtered_query_returns(tmp_path: Path) -> None:
    """Random points across tenants, datasets, classifications and groups; for many callers and queries the local
    shortcut (rank unfiltered, filter in Python, fall back when too few pass) equals Qdrant's filtered search —
    same ids, same order — including callers who may read almost nothing (the fallback)."""
    rng = random.Random(9)
    client = AsyncQdrantClient(path=str(tmp_path / "qdrant"))
    try:
        filtered, local = ChunkIndex(client, DIMENSIONS), ChunkIndex(client, DIMENSIONS, local=True)
        points = []
        for n in range(600):
            p = point(f"d{n}", 1, 0, rng.randrange(DIMENSIONS), tenant=rng.choice(["acme", "globex"]),
                      dataset=rng.choice(["hr", "it"]))  # fmt: skip
            p.payload["classification"] = rng.choice(["public", "internal", "confidential", "restricted"])
            p.payload["allowed_groups"] = rng.choice([[], [], ["board"], ["hr", "it"], ["lab"]])
            p.vector[rng.randrange(DIMENSIONS)] += 0.5
            points.append(p)
        await filtered.upsert(points)
        callers = [
            Principal(tenant="acme", subject="a", clearance=Classification.RESTRICTED, groups=("board",)),
            Principal(tenant="acme", subject="b", clearance=Classification.PUBLIC),
            Principal(tenant="globex", subject="c", clearance=Classification.INTERNAL, groups=("hr",)),
            Principal(tenant="globex", subject="d", clearance=Classification.PUBLIC, groups=("lab",)),
        ]
        for caller in callers:
            for dataset in ("", "hr"):
                query = direction((rng.randrange(DIMENSIONS), 1.0), (rng.randrange(DIMENSIONS), 0.3))
                kwargs = {"tenant": caller.tenant, "dataset": dataset, "limit": 10, "score_threshold": None}
                expected = await filtered.search(query, access=AccessScope.of(caller), **kwargs)  # type: ignore[arg-type]
                got = await local.search(query, access=AccessScope.of(caller), **kwargs)  # type: ignore[arg-type]
                assert [p.chunk_id for p in got] == [p.chunk_id for p in expected], (caller.subject, dataset)
                assert all(p.payload["tenant"] == caller.tenant for p in got)
    finally:
        await client.close()
