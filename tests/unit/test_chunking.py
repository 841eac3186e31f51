"""Chunking: overlap, sections, offsets."""

from __future__ import annotations

import pytest

from services.ingestion.chunking import ChunkingPolicy, chunk
from services.ingestion.parsing import parse

pytestmark = pytest.mark.unit


def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_consecutive_chunks_share_exactly_the_overlap() -> None:
    """The last overlap_words words of one chunk open the next."""
    doc = parse(words(50).encode(), "text/plain", "kb://a.txt")
    chunks = chunk(doc, ChunkingPolicy(max_words=20, overlap_words=5))
    assert [len(c.text.split()) for c in chunks] == [20, 20, 20]
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert left.text.split()[-5:] == right.text.split()[:5]
    assert chunks[-1].text.split()[-1] == "w49"


def test_offsets_point_at_the_chunk_text() -> None:
    """text[start:end] is the chunk, so citations can point into the document."""
    doc = parse(("alpha beta\n\n gamma  delta " * 30).encode(), "text/plain", "kb://a.txt")
    for c in chunk(doc, ChunkingPolicy(max_words=7, overlap_words=2)):
        assert doc.text[c.start_char : c.end_char] == c.text


def test_chunks_never_cross_a_markdown_section_and_carry_nested_heading_paths() -> None:
    """Each chunk belongs to one section; ## under # nests."""
    text = f"# Guide\n\n{words(3, 'g')}\n\n## Install\n\n{words(4, 'i')}\n\n## Use\n\n{words(2, 'u')}\n\n# Other\n\nend"
    doc = parse(text.encode(), "text/markdown", "kb://g.md")
    chunks = chunk(doc, ChunkingPolicy(max_words=50, overlap_words=10))
    assert [c.heading_path for c in chunks] == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Use"),
        ("Other",),
    ]
    assert "i0" in chunks[1].text and "u0" not in chunks[1].text
    assert [c.index for c in chunks] == [0, 1, 2, 3]


def test_a_short_document_is_one_chunk() -> None:
    """Fewer words than a window: one chunk, the whole text."""
    doc = parse(b"Just a few words here.", "text/plain", "kb://s.txt")
    (only,) = chunk(doc)
    assert only.text == "Just a few words here." and only.start_char == 0


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_impossible_policies_are_refused(size: int, overlap: int) -> None:
    """Overlap must be smaller than the window."""
    with pytest.raises(ValueError, match="overlap"):
        ChunkingPolicy(max_words=size, overlap_words=overlap)
