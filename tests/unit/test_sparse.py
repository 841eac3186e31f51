"""Sparse term vectors for hybrid search."""

from __future__ import annotations

import math

import pytest

from llmops.sparse import encode_document, encode_query, terms

pytestmark = pytest.mark.unit


def test_terms_drop_stopwords_and_keep_identifiers() -> None:
    """Dunder names survive; filler words do not."""
    assert terms("What does __enter__ return in the WITH statement?") == ["__enter__", "return", "statement"]


def test_document_weights_grow_logarithmically_and_indices_are_sorted_and_stable() -> None:
    """Repeated terms weigh more with diminishing returns; the same text always encodes the same."""
    vector = encode_document("yield yield yield generator")
    assert list(vector.indices) == sorted(vector.indices)
    assert sorted(vector.values) == [1.0, pytest.approx(1.0 + math.log(3))]
    assert encode_document("yield yield yield generator") == vector


def test_a_query_matches_the_document_terms_it_shares() -> None:
    """Query and document encodings agree on term indices."""
    document = encode_document("The global statement declares names global")
    query = encode_query("what does global do")
    assert set(query.indices) <= set(document.indices) and query.values == (1.0,)
