"""The gateway's domain: validating questions, building the grounded prompt, reading citations; pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from llmops.errors import InvalidArgument
from llmops.prompts.core import validate_name

NO_SOURCES_ANSWER = "I could not find anything in your documents about that, so I cannot answer it."
MAX_SOURCE_CHARS = 1200

_CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class Question:
    """A validated question."""

    text: str
    dataset: str
    top_k: int
    max_tokens: int
    temperature: float
    prompt_name: str = ""
    """A registered prompt taking `sources` and `question`; empty = the gateway's configured one."""
    prompt_label: str = ""
    """Label to use (e.g. staging); empty = production, or the user's A/B label."""
    prompt_version: int = 0
    """An exact version (evaluations): overrides the label."""
    model: str = ""
    """An exact model (evaluations): overrides routing."""
    bypass_cache: bool = False


@dataclass(frozen=True)
class Source:
    """A retrieved chunk offered to the model under a number."""

    number: int
    chunk_id: str
    document_id: str
    document_version: int
    title: str
    source_uri: str
    text: str
    score: float
    heading_path: list[str] = field(default_factory=list)
    start_char: int = 0
    end_char: int = 0
    page: int = 0


@dataclass(frozen=True)
class Limits:
    """Bounds on a question."""

    max_query_chars: int = 2000
    max_top_k: int = 10
    default_top_k: int = 4
    max_tokens: int = 512
    default_max_tokens: int = 200


def validate_question(
    query: str,
    dataset: str,
    top_k: int,
    max_tokens: int,
    temperature: float,
    limits: Limits,
    *,
    prompt_name: str = "",
    prompt_label: str = "",
    prompt_version: int = 0,
    model: str = "",
    bypass_cache: bool = False,
) -> Question:
    """A question, or INVALID_ARGUMENT saying what to change."""
    text = query.strip()
    if not text:
        raise InvalidArgument("query is empty; ask a question")
    if len(text) > limits.max_query_chars:
        raise InvalidArgument(
            f"query has {len(text)} characters; the limit is {limits.max_query_chars}. Shorten the question"
        )
    if not 0 <= top_k <= limits.max_top_k:
        raise InvalidArgument(f"top_k must be between 1 and {limits.max_top_k} (0 for the default)")
    if not 0 <= max_tokens <= limits.max_tokens:
        raise InvalidArgument(f"parameters.max_tokens must be between 1 and {limits.max_tokens} (0 for the default)")
    if not 0.0 <= temperature <= 2.0:
        raise InvalidArgument("parameters.temperature must be between 0 and 2")
    if prompt_version < 0:
        raise InvalidArgument(f"prompt_version must be positive (0 picks by label), got {prompt_version}")
    return Question(
        text=text,
        dataset=dataset.strip(),
        top_k=top_k or limits.default_top_k,
        max_tokens=max_tokens or limits.default_max_tokens,
        temperature=temperature,
        prompt_name=validate_name(prompt_name.strip(), "prompt_name") if prompt_name.strip() else "",
        prompt_label=validate_name(prompt_label.strip(), "prompt_label") if prompt_label.strip() else "",
        prompt_version=prompt_version,
        model=validate_name(model.strip(), "model") if model.strip() else "",
        bypass_cache=bypass_cache,
    )


def rag_variables(question: str, sources: Sequence[Source]) -> dict[str, str]:
    """The RAG prompt's variables: numbered `[n] (label) text` source lines, and the question."""
    blocks = []
    for s in sources:
        heading = " > ".join(s.heading_path)
        label = f"{s.title} — {heading}" if heading and heading != s.title else s.title
        body = " ".join(s.text.split())[:MAX_SOURCE_CHARS]
        blocks.append(f"[{s.number}] ({label}) {body}")
    return {"sources": "\n".join(blocks), "question": question}


def cited_sources(answer: str, sources: Sequence[Source]) -> list[Source]:
    """The sources an answer cites by number, in order of first citation; numbers it was not given are ignored."""
    by_number = {s.number: s for s in sources}
    cited: list[Source] = []
    for match in _CITATION.finditer(answer):
        source = by_number.get(int(match.group(1)))
        if source is not None and source not in cited:
            cited.append(source)
    return cited


_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+|\n")


class SentenceReleaser:
    """Holds streamed answer text back until a sentence is complete, so each sentence can be checked before the
    caller sees it (output guardrails on a stream). A piece may end mid-word; a sentence never does."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """Adds a piece; returns the complete sentences now held (with their trailing space), or ""."""
        self._held += piece
        ends = [m.end() for m in _SENTENCE_END.finditer(self._held)]
        if not ends:
            return ""
        done, self._held = self._held[: ends[-1]], self._held[ends[-1] :]
        return done

    def flush(self) -> str:
        """What is still held when the stream ends."""
        done, self._held = self._held, ""
        return done


def split_whitespace(text: str) -> tuple[str, str, str]:
    """(leading whitespace, core, trailing whitespace): a checker sees the core; the spacing is put back."""
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]


def groundedness(answer: str, unsupported: Sequence[tuple[int, int]]) -> float:
    """Share of the answer's non-blank characters outside the spans the grounding check flagged as unsupported
    (overlapping spans counted once): 1.0 when every sentence is supported."""
    total = sum(1 for c in answer if not c.isspace())
    if total == 0:
        return 1.0
    flagged: set[int] = set()
    for start, end in unsupported:
        flagged.update(i for i in range(max(0, start), min(end, len(answer))) if not answer[i].isspace())
    return round(1.0 - len(flagged) / total, 4)
