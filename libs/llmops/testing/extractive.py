"""A small deterministic "model" for tests: answers from the numbered source that best matches the question.

It reads a grounded prompt the way a RAG model should (sources as `[n] ...` lines, then the question) and
answers with the first sentence of the best-overlapping source, cited as `[n]`. Same prompt, same answer;
no randomness, no weights — so tests can assert on citations without a real LLM.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SOURCE = re.compile(r"^\[(\d+)\]\s*(.*?)(?=^\[\d+\]|^Question:|\Z)", re.MULTILINE | re.DOTALL)
_QUESTION = re.compile(r"^Question:\s*(.+?)$", re.MULTILINE)
_WORD = re.compile(r"[a-z0-9]+")
_LABEL = re.compile(r"^\([^)]*\)\s*")
_HEADING_MARKS = re.compile(r"(?:^|(?<=\s))#{1,6}\s+[^.!?]*?(?=\s[A-Z])\s*")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "what",
        "when",
        "which",
        "who",
        "why",
        "with",
    ]
)
NO_ANSWER = "I cannot answer that from the provided sources."


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def answer(prompt: str) -> str:
    """The deterministic answer to a grounded prompt."""
    questions = _QUESTION.findall(prompt)
    if not questions:
        return NO_ANSWER
    question = _terms(questions[-1])
    best: tuple[int, int, str] | None = None
    for number, body in _SOURCE.findall(prompt):
        overlap = len(question & _terms(body))
        if overlap and (best is None or overlap > best[0]):
            best = (overlap, int(number), body)
    if best is None:
        return NO_ANSWER
    _, number, body = best
    # Sources read "[n] (title) text"; the label and Markdown heading marks are not part of the answer.
    text = _HEADING_MARKS.sub("", _LABEL.sub("", " ".join(body.split()), count=1))
    first_sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return f"{first_sentence[:300]} [{number}]"


def stream_tokens(text: str) -> Iterator[str]:
    """Splits an answer into word pieces whose concatenation is the answer, as a streaming model emits."""
    yield from re.findall(r"\S+\s*|\s+", text)
