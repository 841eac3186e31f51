"""Text helpers shared by services that read answers sentence by sentence (guardrails, evaluation)."""

from __future__ import annotations

import re
from collections.abc import Iterator


def sentence_spans(
    text: str, sentence_end: re.Pattern[str], abbreviation: re.Pattern[str]
) -> Iterator[tuple[int, int]]:
    """(start, end) of each non-blank sentence: the text split at `sentence_end` matches, except a break right
    after an `abbreviation` (e.g. "e.g.") that is not a line break. Each caller keeps its own rules."""
    start = 0
    for m in sentence_end.finditer(text):
        if m.group(0)[:1] != "\n" and abbreviation.search(text, max(0, m.start() - 8), m.start()):
            continue
        if text[start : m.start()].strip():
            yield start, m.start()
        start = m.end()
    if text[start:].strip():
        yield start, len(text.rstrip())
