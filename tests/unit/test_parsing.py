"""Parsing: types, encodings, structure."""

from __future__ import annotations

import pytest

from llmops.errors import InvalidArgument
from services.ingestion.parsing import parse, resolve_mime_type

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("declared", "uri", "expected"),
    [
        ("", "kb://a.md", "text/markdown"),
        ("", "file:///x/NOTES.TXT", "text/plain"),
        ("text/markdown; charset=utf-8", "kb://no-extension", "text/markdown"),
    ],
)
def test_the_type_comes_from_the_header_or_the_extension(declared: str, uri: str, expected: str) -> None:
    """A declared type wins; otherwise the extension decides."""
    assert resolve_mime_type(declared, uri) == expected


def test_unsupported_types_are_refused_with_the_supported_list() -> None:
    """The message tells the caller what would work."""
    with pytest.raises(InvalidArgument, match="supported: text/markdown, text/plain"):
        resolve_mime_type("application/pdf", "kb://a.pdf")
    with pytest.raises(InvalidArgument, match="cannot tell the type"):
        resolve_mime_type("", "kb://a.pdf")


def test_a_utf8_bom_is_dropped_and_line_endings_normalised() -> None:
    """Windows files parse like any other."""
    doc = parse("\ufeffHello\r\nWorld".encode(), "text/plain", "kb://a.txt")
    assert doc.text == "Hello\nWorld" and doc.title == "Hello"


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"caf\xe9", "not valid UTF-8"), (b"\x00\x01abc", "binary"), (b" \n\t ", "no text")],
)
def test_undecodable_binary_and_blank_documents_are_refused(content: bytes, needle: str) -> None:
    """Each refusal says what is wrong."""
    with pytest.raises(InvalidArgument, match=needle):
        parse(content, "text/plain", "kb://a.txt")


def test_markdown_headings_inside_code_fences_are_ignored_and_the_h1_is_the_title() -> None:
    """A `# comment` in a code block is not a heading."""
    text = "intro\n\n# Real title\n\n```\n# not a heading\n```\n\n## Section\n"
    doc = parse(text.encode(), "text/markdown", "kb://a.md")
    assert [h.text for h in doc.headings] == ["Real title", "Section"]
    assert doc.title == "Real title"
    assert text[doc.headings[1].offset :].startswith("## Section")


def test_an_explicit_title_wins() -> None:
    """The caller's title is kept."""
    assert parse(b"# Heading", "text/markdown", "kb://a.md", title="Mine").title == "Mine"
