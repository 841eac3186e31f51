"""The semantic cache's keys and admission rules."""

from __future__ import annotations

import pytest

from llmops.auth import AccessScope
from services.gateway.cache import ROUTED, cache_key, cacheable, document_refs, scope_fingerprint
from services.gateway.core import NO_SOURCES_ANSWER, Question, Source

pytestmark = pytest.mark.unit

QUESTION = Question(text="q", dataset="", top_k=4, max_tokens=200, temperature=0.0)
CITED = [Source(1, "c1", "d1", 2, "T", "kb://t", "text", 0.9), Source(2, "c2", "d1", 2, "T", "kb://t", "x", 0.8)]


def test_principals_that_may_read_the_same_chunks_share_a_scope_and_others_do_not() -> None:
    base = scope_fingerprint(AccessScope("acme", ("public", "internal"), ("hr", "eng")))
    assert base == scope_fingerprint(AccessScope("acme", ("internal", "public"), ("eng", "hr")))
    assert base != scope_fingerprint(AccessScope("acme", ("public", "internal"), ("hr",)))
    assert base != scope_fingerprint(AccessScope("acme", ("public", "internal", "confidential"), ("hr", "eng")))
    assert base != scope_fingerprint(AccessScope("globex", ("public", "internal"), ("hr", "eng")))


def test_the_key_names_the_routing_when_no_model_is_fixed() -> None:
    scope = AccessScope("acme", ("public",), ())
    assert cache_key(scope, QUESTION, "rag", 3, "").model == ROUTED
    assert cache_key(scope, QUESTION, "rag", 3, "large").model == "large"
    assert cache_key(scope, QUESTION, "rag", 3, "").fields()["prompt_version"] == 3


def test_only_deterministic_cited_answers_are_cached() -> None:
    assert cacheable(QUESTION, "It is [1].", CITED, NO_SOURCES_ANSWER)
    sampled = Question(text="q", dataset="", top_k=4, max_tokens=200, temperature=0.7)
    assert not cacheable(sampled, "It is [1].", CITED, NO_SOURCES_ANSWER)
    assert not cacheable(QUESTION, "It is.", [], NO_SOURCES_ANSWER)
    assert not cacheable(QUESTION, NO_SOURCES_ANSWER, CITED, NO_SOURCES_ANSWER)


def test_an_answer_depends_on_each_cited_document_version_once() -> None:
    assert document_refs(CITED) == (["d1"], ["d1@2"])
