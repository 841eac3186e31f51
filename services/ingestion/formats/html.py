"""HTML → text: visible block text separated by blank lines, `<h1>`–`<h6>` as headings, `<title>` as title."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from llmops.errors import InvalidArgument
from services.ingestion.formats import Extracted, TextBuilder

_SKIPPED = frozenset({"script", "style", "nav", "noscript", "template", "svg", "iframe", "object"})
"""Elements whose content is never text to index."""
_HEAD_ONLY = frozenset({"head", "title", "meta", "link", "base", "style", "script", "noscript", "template"})
"""Tags that may sit in `<head>`; any other start tag means the (unclosed) head has ended."""
_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div", "dl"),
        *("dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "ol", "p"),
        *("pre", "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul"),
    }
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SPACE = re.compile(r"[ \t\n\r\f\v]+")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = TextBuilder()
        self.block: list[str] = []
        self.skip_depth = 0
        self.in_head = False
        self.in_title = False
        self.title: list[str] = []
        self.pre_depth = 0
        self.heading_level = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.in_head and tag not in _HEAD_ONLY:
            self.in_head = False
        if tag == "head":
            self.in_head = True
        elif tag == "title":
            self.in_title = True
        elif tag in _SKIPPED:
            self.skip_depth += 1
        elif self.skip_depth or self.in_head:
            return
        elif tag in _HEADINGS:
            self._flush()
            self.heading_level = _HEADINGS[tag]
        elif tag == "br":
            self.block.append("\n")
        elif tag in ("td", "th"):
            self.block.append(" ")
        elif tag in _BLOCKS and not self.heading_level:
            self._flush()
            if tag == "pre":
                self.pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED:  # `<script/>` or `<nav/>` opens nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        elif tag == "title":
            self.in_title = False
        elif tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif self.skip_depth or self.in_head:
            return
        elif tag in _HEADINGS and self.heading_level:
            self._flush()
        elif tag in _BLOCKS and not self.heading_level:
            self._flush()
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip_depth and not self.in_head:
            self.block.append(data if self.pre_depth else _SPACE.sub(" ", data))

    def _flush(self) -> None:
        raw = "".join(self.block)
        self.block = []
        if self.pre_depth:
            block = raw.strip("\n").rstrip()
        else:
            block = "\n".join(line for line in (" ".join(part.split()) for part in raw.split("\n")) if line)
        self.out.add(block, self.heading_level)
        self.heading_level = 0

    def finish(self) -> None:
        self.close()
        self._flush()


def extract(text: str) -> Extracted:
    """Visible text of an HTML page; script, style, nav and head content is dropped."""
    parser = _TextParser()
    parser.feed(text)
    parser.finish()
    body = parser.out.text()
    if not body.strip():
        raise InvalidArgument("the HTML page has no visible text (only markup, scripts or styles); nothing to index")
    title = " ".join("".join(parser.title).split())
    return Extracted(text=body, headings=tuple(parser.out.headings), title=title)
