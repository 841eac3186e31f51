"""Turns uploaded bytes into text plus structure (title, headings, page starts); pure, no I/O.

Plain text and Markdown are handled here; HTML, PDF and DOCX each have a small extractor in `formats/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from llmops.errors import InvalidArgument
from services.ingestion.formats import Extracted, Heading
from services.ingestion.formats import docx as docx_format
from services.ingestion.formats import html as html_format
from services.ingestion.formats import pdf as pdf_format
from services.ingestion.upload import Upload

__all__ = [
    "PARSER_VERSION",
    "SUPPORTED_TYPES",
    "Heading",
    "ParsedDocument",
    "decode_text",
    "parse",
    "resolve_mime_type",
]

HTML = "text/html"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SUPPORTED_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": HTML,
    ".htm": HTML,
    ".pdf": PDF,
    ".docx": DOCX,
}
PARSER_VERSION = "llmops-parsers/2 (text, markdown, html, pdf:pypdf, docx:python-docx)"

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)(?:\s+#+)?\s*$")


@dataclass(frozen=True)
class ParsedDocument:
    """The text to chunk and the structure found in it."""

    text: str
    mime_type: str
    title: str
    headings: tuple[Heading, ...]
    pages: tuple[int, ...] = ()
    """Character offsets where each page starts (PDF); empty for formats without pages."""


def resolve_mime_type(declared: str, source_uri: str) -> str:
    """The declared type if supported, else one guessed from the URI's extension; anything else is refused."""
    supported = sorted(set(SUPPORTED_TYPES.values()))
    if declared:
        base = declared.split(";", 1)[0].strip().lower()
        if base not in supported:
            raise InvalidArgument(f"unsupported mime_type {declared!r}; supported: {', '.join(supported)}")
        return base
    suffix = PurePosixPath(source_uri.split("?", 1)[0]).suffix.lower()
    if suffix not in SUPPORTED_TYPES:
        raise InvalidArgument(
            f"cannot tell the type of {source_uri!r} from its extension; set mime_type to one of {', '.join(supported)}"
        )
    return SUPPORTED_TYPES[suffix]


def decode_text(content: bytes) -> str:
    """UTF-8 text (a BOM is dropped); binary or other encodings are refused with a clear message."""
    if b"\x00" in content:
        raise InvalidArgument("content looks binary (it contains NUL bytes); send UTF-8 text or Markdown")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"content is not valid UTF-8 (bad byte at offset {exc.start}); re-encode the file as UTF-8"
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse(content: bytes | Upload, mime_type: str, source_uri: str, title: str = "") -> ParsedDocument:
    """Parses text, Markdown, HTML, PDF or DOCX; documents with nothing to index are refused.

    The title is the caller's, else the one the file declares, else the first level-1 heading, else the
    first line of text, else the source URI.
    """
    extracted = _extract(content, mime_type)
    if not extracted.text.strip():
        raise InvalidArgument(f"document {source_uri!r} has no text to index")
    headings = extracted.headings
    if not title:
        title = (
            extracted.title
            or next((h.text for h in headings if h.level == 1), "")
            or _first_line(extracted.text)
            or source_uri
        )
    return ParsedDocument(
        text=extracted.text, mime_type=mime_type, title=title[:300], headings=headings, pages=extracted.pages
    )


def _extract(content: bytes | Upload, mime_type: str) -> Extracted:
    """Binary formats read the file as they need it; text formats are decoded (and NUL-checked) whole."""
    upload = content if isinstance(content, Upload) else Upload.of(content)
    if mime_type == PDF:
        return pdf_format.extract(upload.open())
    if mime_type == DOCX:
        return docx_format.extract(upload.open())
    text = decode_text(upload.read())
    if mime_type == HTML:
        return html_format.extract(text) if text.strip() else Extracted(text=text)
    if mime_type == "text/markdown":
        return Extracted(text=text, headings=tuple(_markdown_headings(text)))
    return Extracted(text=text)


def _markdown_headings(text: str) -> list[Heading]:
    headings: list[Heading] = []
    offset = 0
    fence = ""  # the marker that opened the current code fence; only the same marker closes it
    for line in text.split("\n"):
        marker = line.lstrip()[:3]
        if marker in ("```", "~~~") and (not fence or marker == fence):
            fence = "" if fence else marker
        elif not fence and (match := _HEADING.match(line)):
            headings.append(Heading(level=len(match.group(1)), text=match.group(2), offset=offset))
        offset += len(line) + 1
    return headings


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.split("\n") if line.strip()), "")[:120]
