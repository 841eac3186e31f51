"""Turns uploaded bytes into text plus structure (title, headings); pure, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from llmops.errors import InvalidArgument

SUPPORTED_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
}
PARSER_VERSION = "text-md/1"

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)(?:\s+#+)?\s*$")


@dataclass(frozen=True)
class Heading:
    """A Markdown heading and where its line starts."""

    level: int
    text: str
    offset: int


@dataclass(frozen=True)
class ParsedDocument:
    """The text to chunk and the structure found in it."""

    text: str
    mime_type: str
    title: str
    headings: tuple[Heading, ...]


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


def parse(content: bytes, mime_type: str, source_uri: str, title: str = "") -> ParsedDocument:
    """Parses plain text or Markdown; empty or whitespace-only documents are refused."""
    text = decode_text(content)
    if not text.strip():
        raise InvalidArgument(f"document {source_uri!r} has no text to index")
    headings: tuple[Heading, ...] = ()
    if mime_type == "text/markdown":
        headings = tuple(_markdown_headings(text))
    if not title:
        title = next((h.text for h in headings if h.level == 1), "") or _first_line(text) or source_uri
    return ParsedDocument(text=text, mime_type=mime_type, title=title[:300], headings=headings)


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
