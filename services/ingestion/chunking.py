"""Splits a parsed document into overlapping chunks that respect heading sections; pure, no I/O.

Sizes are counted in tokens of the embedding model's own tokenizer when one is given (so a chunk always fits
the model's window), else in words. Each chunk keeps its character offsets, page and the heading path of the
section it sits in, so citations can say where it came from.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
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
    max_tokens: int = 200
    """Used with a tokenizer: all-MiniLM-L6-v2 reads 256 tokens, less [CLS]/[SEP] and a margin."""
    overlap_tokens: int = 32

    def __post_init__(self) -> None:
        if self.max_words < 1 or not 0 <= self.overlap_words < self.max_words:
            raise ValueError("need max_words ≥ 1 and 0 ≤ overlap_words < max_words")
        if self.max_tokens < 1 or not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError("need max_tokens ≥ 1 and 0 ≤ overlap_tokens < max_tokens")


TokenCounter = Callable[[Sequence[str]], list[int]]
"""Tokens of each word, as the embedding model's tokenizer counts them (without special tokens)."""


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


def _windows(weights: Sequence[int], limit: int, overlap: int) -> list[tuple[int, int]]:
    """[first, last) word ranges of at most `limit` weight, each sharing up to `overlap` weight with the next."""
    windows: list[tuple[int, int]] = []
    first = 0
    while first < len(weights):
        last, total = first, 0
        while last < len(weights) and (last == first or total + weights[last] <= limit):
            total += weights[last]
            last += 1
        windows.append((first, last))
        if last == len(weights):
            break
        back, shared = last, 0
        while back > first + 1 and shared + weights[back - 1] <= overlap:
            shared += weights[back - 1]
            back -= 1
        first = back
    return windows


def chunk(
    doc: ParsedDocument, policy: ChunkingPolicy = ChunkingPolicy(), count_tokens: TokenCounter | None = None
) -> list[TextChunk]:
    """Overlapping windows that never cross a section: sized in tokens with `count_tokens`, else in words."""
    chunks: list[TextChunk] = []
    for start, end, path in _sections(doc):
        words = [(m.start(), m.end()) for m in _WORD.finditer(doc.text, start, end)]
        if count_tokens is None:
            weights, limit, overlap = [1] * len(words), policy.max_words, policy.overlap_words
        else:
            weights = count_tokens([doc.text[s:e] for s, e in words])
            limit, overlap = policy.max_tokens, policy.overlap_tokens
        for first, last in _windows(weights, limit, overlap):
            begin, finish = words[first][0], words[last - 1][1]
            page = bisect_right(doc.pages, begin) if doc.pages else 0
            chunks.append(TextChunk(len(chunks), doc.text[begin:finish], begin, finish, path, page))
    return chunks
