"""Parsing: types, encodings, structure."""

from __future__ import annotations

import pytest

from llmops.errors import InvalidArgument
from services.ingestion.parsing import Heading, decode_text, parse, resolve_mime_type

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("declared", "uri", "expected"),
    [
        ("", "kb://a.md", "text/markdown"),
        ("", "kb://a.markdown", "text/markdown"),
        ("", "file:///x/NOTES.TXT", "text/plain"),
        ("", "https://host/doc.text?download=1&name=x.pdf", "text/plain"),
        ("text/markdown; charset=utf-8", "kb://no-extension", "text/markdown"),
        ("TEXT/Plain", "kb://a.md", "text/plain"),
        ("", "kb://page.HTML", "text/html"),
        ("", "kb://page.htm", "text/html"),
        ("", "https://host/report.pdf?v=2", "application/pdf"),
        ("", "kb://memo.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("text/html; charset=utf-8", "kb://a.txt", "text/html"),
    ],
)
def test_the_type_comes_from_the_header_or_the_extension(declared: str, uri: str, expected: str) -> None:
    """A declared type wins (case and parameters ignored); otherwise the extension, before any query, decides."""
    assert resolve_mime_type(declared, uri) == expected


def test_unsupported_types_are_refused_with_the_supported_list() -> None:
    """The message tells the caller what would work."""
    with pytest.raises(InvalidArgument, match="supported: application/pdf, .*text/html, text/markdown, text/plain"):
        resolve_mime_type("image/png", "kb://a.md")
    with pytest.raises(InvalidArgument, match=r"cannot tell the type of 'kb://a.doc'.*set mime_type"):
        resolve_mime_type("", "kb://a.doc")
    with pytest.raises(InvalidArgument, match="cannot tell the type"):
        resolve_mime_type("", "kb://README")


def test_a_utf8_bom_is_dropped_and_line_endings_normalised() -> None:
    """Windows and old-Mac files parse like any other."""
    doc = parse("\ufeffHello\r\nWorld\rAgain".encode(), "text/plain", "kb://a.txt")
    assert doc.text == "Hello\nWorld\nAgain"
    assert doc.title == "Hello"


def test_non_ascii_utf8_is_kept_as_is() -> None:
    """Accents and CJK survive decoding unchanged."""
    assert decode_text("café 東京".encode()) == "café 東京"


def test_undecodable_bytes_are_refused_with_the_offset_of_the_bad_byte() -> None:
    """Latin-1 content is named as not UTF-8, pointing at the first bad byte."""
    with pytest.raises(InvalidArgument, match=r"not valid UTF-8 \(bad byte at offset 3\)"):
        parse(b"caf\xe9 au lait", "text/plain", "kb://a.txt")


@pytest.mark.parametrize("content", [b"\x00\x01abc", b"hello\x00world", "text".encode("utf-16")])
def test_content_with_nul_bytes_is_refused_as_binary(content: bytes) -> None:
    """NUL bytes mean binary (or UTF-16), which the text parser cannot index."""
    with pytest.raises(InvalidArgument, match="binary"):
        parse(content, "text/plain", "kb://a.txt")


@pytest.mark.parametrize("content", [b"", b" \n\t ", b"\xef\xbb\xbf \r\n"])
def test_empty_or_whitespace_documents_are_refused(content: bytes) -> None:
    """Nothing to index is an error naming the document."""
    with pytest.raises(InvalidArgument, match=r"document 'kb://a.txt' has no text to index"):
        parse(content, "text/plain", "kb://a.txt")


def test_markdown_headings_inside_code_fences_are_ignored_and_the_h1_is_the_title() -> None:
    """A `# comment` in a code block is not a heading."""
    text = "intro\n\n# Real title\n\n```python\n# not a heading\n```\n\n## Section ##\n\n~~~\n## nor this\n~~~\n"
    doc = parse(text.encode(), "text/markdown", "kb://a.md")
    assert [(h.level, h.text) for h in doc.headings] == [(1, "Real title"), (2, "Section")]
    assert doc.title == "Real title"
    assert text[doc.headings[0].offset :].startswith("# Real title")
    assert text[doc.headings[1].offset :].startswith("## Section")


def test_heading_offsets_are_character_offsets_in_the_decoded_text() -> None:
    """Offsets count characters after CRLF normalisation, not bytes."""
    doc = parse("é\r\n\r\n# Ü\r\n".encode(), "text/markdown", "kb://a.md")
    assert doc.headings == (Heading(level=1, text="Ü", offset=3),)
    assert doc.text[3:6] == "# Ü"


def test_hashes_without_a_space_and_seventh_level_marks_are_not_headings() -> None:
    """`#tag` and `#######` are text."""
    doc = parse(b"#tag line\n####### seven\n###### six", "text/markdown", "kb://a.md")
    assert [(h.level, h.text) for h in doc.headings] == [(6, "six")]


def test_plain_text_has_no_headings_even_when_lines_start_with_a_hash() -> None:
    """Only Markdown has structure."""
    doc = parse(b"# not markdown\nbody", "text/plain", "kb://a.txt")
    assert doc.headings == ()
    assert doc.title == "# not markdown"


def test_without_an_h1_the_title_is_the_first_non_blank_line() -> None:
    """An H2 is not a title; the first line with text is."""
    doc = parse(b"\n\n   \n  First line here  \n## Sub\nbody", "text/markdown", "kb://a.md")
    assert doc.title == "First line here"


def test_the_first_h1_wins_even_after_other_text() -> None:
    """Preamble before the H1 does not become the title."""
    doc = parse(b"preamble\n\n## Two\n\n# One\n\n# Later", "text/markdown", "kb://a.md")
    assert doc.title == "One"


def test_titles_are_bounded() -> None:
    """A first line of prose is cut to 120 characters, any title to 300."""
    assert parse(("x" * 500).encode(), "text/plain", "kb://a.txt").title == "x" * 120
    assert parse(b"body", "text/plain", "kb://a.txt", title="t" * 400).title == "t" * 300


def test_an_explicit_title_wins() -> None:
    """The caller's title is kept."""
    assert parse(b"# Heading", "text/markdown", "kb://a.md", title="Mine").title == "Mine"


def test_text_formats_have_no_pages() -> None:
    """Only paged formats (PDF) record page starts."""
    assert parse(b"# T\n\nbody", "text/markdown", "kb://a.md").pages == ()
