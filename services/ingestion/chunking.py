"""Splits a parsed document into overlapping chunks that respect heading sections; pure, no I/O.

Sizes are counted in words, a conservative stand-in for the embedding model's 256-token window
(English prose runs about 1.3 word pieces per word). Each chunk keeps its character offsets and the
heading path of the section it sits in, so citations can say where it came from.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from services.ingestion.parsing import Heading, ParsedDocument

CHUNKER_VERSION = "section-window/1"
_WORD = re.compile(r"\S{1,200}")
"""A word, with runs of over 200 non-space characters (minified JSON, base64) cut so no chunk grows unbounded."""


@dataclass(frozen=True)
class ChunkingPolicy:
    """How big chunks are and how much consecutive chunks share."""

    max_words: int = 160
    overlap_words: int = 32

    def __post_init__(self) -> None:
        if self.max_words < 1 or not 0 <= self.overlap_words < self.max_words:
            raise ValueError("need max_words ≥ 1 and 0 ≤ overlap_words < max_words")


@dataclass(frozen=True)
class TextChunk:
    """A span of the document's text."""

    index: int
    text: str
    start_char: int
    end_char: int
    heading_path: tuple[str, ...]
    page: int = 0
    """1-based page where the chunk starts; 0 when the format has no pages."""


def _sections(doc: ParsedDocument) -> list[tuple[int, int, tuple[str, ...]]]:
    """(start, end, heading path) of each section; text before the first heading is its own section."""
    bounds: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    stack: list[Heading] = []
    for heading in doc.headings:
        stack = [h for h in stack if h.level < heading.level] + [heading]
        bounds.append((heading.offset, tuple(h.text for h in stack)))
    sections = []
    for i, (start, path) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(doc.text)
        if doc.text[start:end].strip():
            sections.append((start, end, path))
    return sections


def chunk(doc: ParsedDocument, policy: ChunkingPolicy = ChunkingPolicy()) -> list[TextChunk]:
    """Windows of at most `max_words` words, overlapping by `overlap_words`, never crossing a section."""
    chunks: list[TextChunk] = []
    step = policy.max_words - policy.overlap_words
    for start, end, path in _sections(doc):
        words = [(m.start(), m.end()) for m in _WORD.finditer(doc.text, start, end)]
        first = 0
        while first < len(words):
            last = min(first + policy.max_words, len(words))
            begin, finish = words[first][0], words[last - 1][1]
            page = bisect_right(doc.pages, begin) if doc.pages else 0
            chunks.append(TextChunk(len(chunks), doc.text[begin:finish], begin, finish, path, page))
            if last == len(words):
                break
            first += step
    return chunks
