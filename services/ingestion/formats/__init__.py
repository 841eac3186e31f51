"""One small, pure extractor per binary or markup format: bytes (or decoded text) in, text plus structure out.

Each extractor returns an `Extracted`: the text to index, the headings found in it (with character
offsets into that text), where each page starts (PDF only) and the title the file itself declares.
Bad input is refused with an `InvalidArgument` a person can act on; no library exception escapes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO

Source = bytes | IO[bytes]
"""What binary extractors read: bytes, or a seekable file (a large upload spooled to disk)."""


def as_stream(source: Source) -> IO[bytes]:
    """A seekable file over the source, positioned at its start."""
    if isinstance(source, bytes):
        return io.BytesIO(source)
    source.seek(0)
    return source


@dataclass(frozen=True)
class Heading:
    """A heading (Markdown `#`, HTML `<hN>`, DOCX "Heading N") and the character offset where it starts."""

    level: int
    text: str
    offset: int


@dataclass(frozen=True)
class Extracted:
    """What a format extractor found."""

    text: str
    headings: tuple[Heading, ...] = ()
    pages: tuple[int, ...] = ()
    """Character offsets where each page starts, in page order; empty for formats without pages."""
    title: str = ""
    """The title the file declares (HTML `<title>`, PDF or DOCX metadata); empty when it declares none."""


class TextBuilder:
    """Joins blocks of text with blank lines, recording heading offsets as it goes."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.headings: list[Heading] = []

    def add(self, block: str, heading_level: int = 0) -> None:
        if not block:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        if heading_level:
            self.headings.append(Heading(level=heading_level, text=" ".join(block.split()), offset=self.length))
        self.parts.append(block)
        self.length += len(block)

    def text(self) -> str:
        return "".join(self.parts)
