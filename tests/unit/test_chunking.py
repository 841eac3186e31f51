"""Chunking: overlap, sections, offsets."""

from __future__ import annotations

import pytest

from services.ingestion.chunking import ChunkingPolicy, TextChunk, chunk
from services.ingestion.parsing import Heading, ParsedDocument, parse

pytestmark = pytest.mark.unit


def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def markdown_chunks(text: str, policy: ChunkingPolicy) -> list[TextChunk]:
    return chunk(parse(text.encode(), "text/markdown", "kb://a.md"), policy)


def test_consecutive_chunks_share_exactly_the_overlap() -> None:
    """The last overlap_words words of one chunk open the next."""
    doc = parse(words(50).encode(), "text/plain", "kb://a.txt")
    chunks = chunk(doc, ChunkingPolicy(max_words=20, overlap_words=5))
    assert [c.text.split() for c in chunks] == [
        [f"w{i}" for i in range(0, 20)],
        [f"w{i}" for i in range(15, 35)],
        [f"w{i}" for i in range(30, 50)],
    ]
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert left.text.split()[-5:] == right.text.split()[:5]


def test_the_last_window_is_shorter_and_no_chunk_is_only_overlap() -> None:
    """A remainder becomes one short chunk; a window never repeats words already fully covered."""
    doc = parse(words(23).encode(), "text/plain", "kb://a.txt")
    chunks = chunk(doc, ChunkingPolicy(max_words=10, overlap_words=3))
    assert [(c.text.split()[0], c.text.split()[-1]) for c in chunks] == [("w0", "w9"), ("w7", "w16"), ("w14", "w22")]
    exactly_full = chunk(parse(words(10).encode(), "text/plain", "kb://b.txt"), ChunkingPolicy(10, 3))
    assert len(exactly_full) == 1


def test_without_overlap_every_word_appears_exactly_once() -> None:
    """overlap_words=0 tiles the text."""
    doc = parse(words(25).encode(), "text/plain", "kb://a.txt")
    chunks = chunk(doc, ChunkingPolicy(max_words=7, overlap_words=0))
    assert [w for c in chunks for w in c.text.split()] == words(25).split()
    assert [len(c.text.split()) for c in chunks] == [7, 7, 7, 4]


def test_offsets_point_at_the_chunk_text() -> None:
    """text[start:end] is the chunk, so citations can point into the document."""
    doc = parse(("alpha beta\n\n gamma  delta " * 30).encode(), "text/plain", "kb://a.txt")
    chunks = chunk(doc, ChunkingPolicy(max_words=7, overlap_words=2))
    assert len(chunks) == 24
    for c in chunks:
        assert doc.text[c.start_char : c.end_char] == c.text
        assert c.text == c.text.strip()


def test_offsets_hold_in_markdown_with_non_ascii_text_and_crlf() -> None:
    """Offsets are into the normalised text, whatever the encoding and line endings."""
    text = "# Überblick\r\n\r\nÄpfel und Birnen — 東京 café\r\n\r\n## Détails\r\n\r\n" + words(30, "ü") + "\r\n"
    doc = parse(text.encode(), "text/markdown", "kb://a.md")
    chunks = chunk(doc, ChunkingPolicy(max_words=8, overlap_words=3))
    assert len(chunks) > 3
    for c in chunks:
        assert doc.text[c.start_char : c.end_char] == c.text


def test_chunks_never_cross_a_markdown_section_and_carry_nested_heading_paths() -> None:
    """Each chunk belongs to one section; ## under # nests."""
    text = f"# Guide\n\n{words(3, 'g')}\n\n## Install\n\n{words(4, 'i')}\n\n## Use\n\n{words(2, 'u')}\n\n# Other\n\nend"
    chunks = markdown_chunks(text, ChunkingPolicy(max_words=50, overlap_words=10))
    assert [c.heading_path for c in chunks] == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Use"),
        ("Other",),
    ]
    assert chunks[1].text == "## Install\n\ni0 i1 i2 i3"
    assert [c.index for c in chunks] == [0, 1, 2, 3]


def test_overlap_does_not_reach_across_a_section_boundary() -> None:
    """A section's first chunk starts at its heading, not with words from the previous section."""
    text = f"# A\n\n{words(12, 'a')}\n\n# B\n\n{words(12, 'b')}"
    chunks = markdown_chunks(text, ChunkingPolicy(max_words=6, overlap_words=2))
    for c in chunks:
        section_words = {w[0] for w in c.text.split() if w not in {"#", "A", "B"}}
        assert len(section_words) == 1, c.text
    first_b = next(c for c in chunks if c.heading_path == ("B",))
    assert first_b.text.split()[:3] == ["#", "B", "b0"]
    a_chunks = [c for c in chunks if c.heading_path == ("A",)]
    for left, right in zip(a_chunks, a_chunks[1:], strict=False):
        assert left.text.split()[-2:] == right.text.split()[:2]


def test_a_shallower_heading_pops_the_deeper_ones_from_the_path() -> None:
    """`### C` under `# A` nests, and a later `## B` replaces it; skipping a level is allowed."""
    text = "# A\n\na\n\n### C\n\nc\n\n## B\n\nb\n\n#### D\n\nd\n\n# E\n\ne"
    chunks = markdown_chunks(text, ChunkingPolicy())
    assert [c.heading_path for c in chunks] == [("A",), ("A", "C"), ("A", "B"), ("A", "B", "D"), ("E",)]


def test_text_before_the_first_heading_is_its_own_section_with_no_path() -> None:
    """A preamble is not attributed to the heading that follows it."""
    chunks = markdown_chunks("preamble words\n\n# H\n\nbody", ChunkingPolicy())
    assert [(c.text, c.heading_path) for c in chunks] == [("preamble words", ()), ("# H\n\nbody", ("H",))]


def test_headings_inside_code_fences_do_not_split_sections() -> None:
    """A fenced `# comment` stays inside its section's chunk."""
    chunks = markdown_chunks("# Code\n\n```\n# comment\nx = 1\n```\n", ChunkingPolicy())
    assert len(chunks) == 1
    assert chunks[0].heading_path == ("Code",)
    assert "# comment" in chunks[0].text


def test_a_short_document_is_one_chunk() -> None:
    """Fewer words than a window: one chunk, the whole text."""
    doc = parse(b"  Just a few words here.\n", "text/plain", "kb://s.txt")
    (only,) = chunk(doc)
    assert (only.index, only.text, only.start_char, only.end_char) == (0, "Just a few words here.", 2, 24)
    assert only.heading_path == ()


def test_the_default_policy_is_160_words_overlapping_by_32() -> None:
    """Defaults match the embedding model's window."""
    chunks = chunk(parse(words(300).encode(), "text/plain", "kb://a.txt"))
    assert [len(c.text.split()) for c in chunks] == [160, 160, 44]
    assert chunks[1].text.split()[0] == "w128"


def test_a_one_word_window_without_overlap_is_allowed() -> None:
    """The smallest valid policy yields a chunk per word."""
    chunks = chunk(parse(b"a b c", "text/plain", "kb://a.txt"), ChunkingPolicy(max_words=1, overlap_words=0))
    assert [c.text for c in chunks] == ["a", "b", "c"]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-5, 0), (10, 10), (10, 11), (10, -1)])
def test_impossible_policies_are_refused(size: int, overlap: int) -> None:
    """Overlap must be smaller than the window."""
    with pytest.raises(ValueError, match="overlap"):
        ChunkingPolicy(max_words=size, overlap_words=overlap)


def test_a_chunk_reports_the_one_based_page_where_it_starts() -> None:
    """Page starts are bisected; a chunk that runs onto the next page keeps its first page."""
    text = "a b c\n\nd e f\n\ng h i"
    doc = ParsedDocument(text=text, mime_type="application/pdf", title="t", headings=(), pages=(0, 7, 14))
    chunks = chunk(doc, ChunkingPolicy(max_words=2, overlap_words=0))
    assert [(c.text, c.page) for c in chunks] == [
        ("a b", 1),
        ("c\n\nd", 1),
        ("e f", 2),
        ("g h", 3),
        ("i", 3),
    ]


def test_an_empty_page_is_skipped_when_numbering_pages() -> None:
    """Two page starts at the same offset mean the earlier page had no text."""
    doc = ParsedDocument(text="x\n\ny", mime_type="application/pdf", title="t", headings=(), pages=(0, 3, 3))
    assert [c.page for c in chunk(doc, ChunkingPolicy(max_words=1, overlap_words=0))] == [1, 3]


def test_formats_without_pages_report_page_zero_and_headings_still_make_sections() -> None:
    """Markdown and text chunks have page 0; heading paths are unaffected by pages."""
    doc = ParsedDocument(text="# A\n\nbody", mime_type="text/markdown", title="A", headings=(Heading(1, "A", 0),))
    (only,) = chunk(doc)
    assert (only.page, only.heading_path) == (0, ("A",))


def test_token_sized_windows_respect_the_limit_and_share_the_overlap() -> None:
    """With a token counter, windows fill up to max_tokens and neighbours share up to overlap_tokens."""
    doc = parse(" ".join(["a", "bb", "ccc", "dddd"] * 5).encode(), "text/plain", "kb://t.txt")
    length_in_tokens = lambda words: [len(w) for w in words]  # noqa: E731 - a word of n letters counts n tokens
    chunks = chunk(doc, ChunkingPolicy(max_tokens=10, overlap_tokens=4), length_in_tokens)
    for c in chunks:
        assert sum(len(w) for w in c.text.split()) <= 10
    for left, right in zip(chunks, chunks[1:], strict=False):
        shared = left.end_char - right.start_char
        assert shared > 0 and sum(len(w) for w in doc.text[right.start_char : left.end_char].split()) <= 4
    assert chunks[-1].text.endswith("dddd")


def test_a_word_longer_than_the_window_still_makes_progress() -> None:
    """One oversized word becomes its own chunk instead of looping."""
    doc = parse(b"tiny enormous tiny", "text/plain", "kb://t.txt")
    chunks = chunk(doc, ChunkingPolicy(max_tokens=3, overlap_tokens=1), lambda words: [len(w) for w in words])
    assert [c.text for c in chunks] == ["tiny", "enormous", "tiny"]
