"""HTML parsing: visible text in blocks, h1–h6 headings, the title, and pages with nothing to say."""

from __future__ import annotations

import pytest

from llmops.errors import InvalidArgument
from services.ingestion.chunking import chunk
from services.ingestion.parsing import HTML, parse

pytestmark = pytest.mark.unit

PAGE = """<!doctype html>
<html><head><title> Travel   policy </title><style>p { color: red }</style>
<script>var secret = "not text";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Travel</h1>
<p>Book   trains
 when you can.</p>
<h2>Hotels &amp; <em>meals</em></h2>
<ul><li>Up to &euro;150 a night</li><li>Breakfast included</li></ul>
<div>Line one<br>Line two</div>
<h1>Claims</h1>
<p>Submit within 30 days.</p>
<script>alert("no")</script>
</body></html>"""


def test_visible_text_is_kept_in_blocks_and_markup_scripts_styles_and_nav_dropped() -> None:
    """Whitespace collapses, entities decode, blocks are separated by blank lines, `<br>` is a line break."""
    doc = parse(PAGE.encode(), HTML, "kb://travel.html")
    assert doc.text == (
        "Travel\n\nBook trains when you can.\n\nHotels & meals\n\nUp to €150 a night\n\nBreakfast included\n\n"
        "Line one\nLine two\n\nClaims\n\nSubmit within 30 days."
    )
    assert doc.pages == ()


def test_h1_to_h6_become_headings_with_offsets_into_the_extracted_text() -> None:
    """Inline markup inside a heading is part of its text."""
    doc = parse(PAGE.encode(), HTML, "kb://travel.html")
    assert [(h.level, h.text) for h in doc.headings] == [(1, "Travel"), (2, "Hotels & meals"), (1, "Claims")]
    assert all(doc.text[h.offset :].startswith(h.text) for h in doc.headings)


def test_chunks_carry_html_heading_paths() -> None:
    """The list under the h2 sits in Travel › Hotels & meals."""
    chunks = chunk(parse(PAGE.encode(), HTML, "kb://travel.html"))
    assert [c.heading_path for c in chunks] == [("Travel",), ("Travel", "Hotels & meals"), ("Claims",)]
    assert {c.page for c in chunks} == {0}


def test_the_title_element_wins_then_the_first_h1() -> None:
    """`<title>` is the title (whitespace collapsed); without one, the first h1 is."""
    assert parse(PAGE.encode(), HTML, "kb://t.html").title == "Travel policy"
    assert parse(b"<p>intro</p><h2>Two</h2><h1>One</h1>", HTML, "kb://t.html").title == "One"
    assert parse(b"<p>just text</p>", HTML, "kb://t.html").title == "just text"


def test_an_unclosed_head_ends_at_the_first_body_tag() -> None:
    """HTML lets `</head>` be omitted; the body text is still found."""
    doc = parse(b"<html><head><title>T</title><p>Body text", HTML, "kb://t.html")
    assert doc.text == "Body text" and doc.title == "T"


def test_preformatted_text_keeps_its_lines() -> None:
    """`<pre>` content is not re-flowed."""
    doc = parse(b"<p>Run:</p><pre>make build\n  make test\n</pre>", HTML, "kb://t.html")
    assert doc.text == "Run:\n\nmake build\n  make test"


def test_table_cells_are_separated() -> None:
    """Cells do not run together."""
    doc = parse(b"<table><tr><th>Day</th><th>Pay</th></tr><tr><td>Mon</td><td>Full</td></tr></table>", HTML, "kb://t")
    assert doc.text == "Day Pay\n\nMon Full"


@pytest.mark.parametrize(
    "page",
    [b"<html><head><title>Only a title</title></head><body></body></html>", b"<script>x()</script><nav>menu</nav>"],
)
def test_pages_without_visible_text_are_refused(page: bytes) -> None:
    """Markup alone is nothing to index, and the message says why."""
    with pytest.raises(InvalidArgument, match="the HTML page has no visible text"):
        parse(page, HTML, "kb://t.html")


def test_html_is_still_decoded_as_utf8_text() -> None:
    """HTML is text: bad encodings get the usual message."""
    with pytest.raises(InvalidArgument, match="not valid UTF-8"):
        parse("<p>café</p>".encode("latin-1"), HTML, "kb://t.html")
