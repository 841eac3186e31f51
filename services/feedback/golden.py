"""Golden sets: questions with the documents that answer them and a reference answer, loaded from JSON Lines and
versioned by a hash of their content; pure apart from `load_golden_set` reading one file."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from llmops.errors import InvalidArgument

VERSION_CHARS = 16
"""Hex digits of the SHA-256 content hash used as a golden set's version."""
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_MAX_SHOWN = 5


class GoldenSetError(InvalidArgument):
    """A golden set that cannot be used; `problems` names each bad line, item and field."""

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        self.name = name
        self.problems = tuple(problems)
        shown = "; ".join(self.problems[:_MAX_SHOWN])
        more = len(self.problems) - _MAX_SHOWN
        super().__init__(f"golden set {name!r} is invalid: {shown}" + (f"; and {more} more" if more > 0 else ""))


def _nonblank(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    for i, value in enumerate(values):
        if not value:
            raise ValueError(f"{what} {i} is empty")
    if len(set(values)) != len(values):
        raise ValueError(f"{what}s repeat: {sorted({v for v in values if values.count(v) > 1})}")
    return values


class GoldenItem(BaseModel):
    """One question of a golden set and what a good answer to it looks like."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str
    """Stable identifier: lower-case letters, digits, `.`, `_` and `-`; unique in its set."""
    question: str
    """What a user would ask."""
    expected_sources: tuple[str, ...]
    """Source URIs of the documents that answer it, any of which counts as a hit; empty = the documents do not
    answer it, and the right answer is a refusal."""
    reference_answer: str
    """A short correct answer, taken from the expected sources."""
    must_not_contain: tuple[str, ...] = ()
    """Phrases a correct answer never contains (a wrong claim, an outdated API)."""
    tags: tuple[str, ...] = ()
    """Labels for slicing the report (`statements`, `unanswerable`)."""

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be 1 to 80 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
        return value

    @field_validator("question", "reference_answer")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("expected_sources")
    @classmethod
    def _sources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _nonblank(value, "source")

    @field_validator("must_not_contain")
    @classmethod
    def _phrases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _nonblank(value, "phrase")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _nonblank(value, "tag")

    @property
    def answerable(self) -> bool:
        """Whether the documents answer the question (it has expected sources)."""
        return bool(self.expected_sources)


def _question_key(question: str) -> str:
    return " ".join(question.casefold().split())


class GoldenSet(BaseModel):
    """A named, versioned list of golden items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    items: tuple[GoldenItem, ...]

    @model_validator(mode="after")
    def _unique(self) -> GoldenSet:
        if not self.items:
            raise ValueError("has no items")
        ids = [i.id for i in self.items]
        if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"duplicate ids: {duplicates}")
        return self

    @property
    def version(self) -> str:
        """SHA-256 of the items' canonical JSON, in id order: the same content has the same version whatever its
        line order or formatting, and any change to a question, source, answer, phrase or tag makes a new one."""
        canonical = json.dumps(
            [i.model_dump(mode="json") for i in sorted(self.items, key=lambda i: i.id)],
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:VERSION_CHARS]

    def item(self, item_id: str) -> GoldenItem:
        """The item with that id (KeyError when there is none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def _where(location: tuple[int | str, ...]) -> str:
    """`('expected_sources', 1)` as `expected_sources[1]`."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "item"


def _item_problems(label: str, exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{label}: {_where(error['loc'])}: {message}")
    return problems


def parse_golden_set(name: str, text: str) -> GoldenSet:
    """A golden set from JSON Lines: one item object per line, blank lines ignored.

    Raises:
        GoldenSetError: listing every problem with its line number, item id and field: a line that is not JSON
            or not an object, a missing or unknown field, an empty question or answer, a malformed id, a
            duplicate id or question, or no items at all.
    """
    problems: list[str] = []
    items: list[GoldenItem] = []
    first_line: dict[str, int] = {}
    first_question: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg}, column {exc.colno})")
            continue
        if not isinstance(raw, dict):
            problems.append(f"line {number}: expected a JSON object, got {type(raw).__name__}")
            continue
        label = f"line {number} (item {raw['id']!r})" if isinstance(raw.get("id"), str) else f"line {number}"
        try:
            item = GoldenItem.model_validate(raw)
        except ValidationError as exc:
            problems += _item_problems(label, exc)
            continue
        if item.id in first_line:
            problems.append(f"{label}: id: duplicate of line {first_line[item.id]}")
            continue
        key = _question_key(item.question)
        if key in first_question:
            problems.append(f"{label}: question: same question as line {first_question[key]}")
        first_line[item.id], first_question[key] = number, number
        items.append(item)
    if not items and not problems:
        problems.append("no items")
    if problems:
        raise GoldenSetError(name, problems)
    return GoldenSet(name=name, items=tuple(items))


def load_golden_set(path: Path, name: str | None = None) -> GoldenSet:
    """The golden set in a JSON Lines file, named after the file (`cpython-docs-v1.jsonl` is `cpython-docs-v1`)."""
    return parse_golden_set(name or path.stem, path.read_text(encoding="utf-8"))


def unknown_sources(golden: GoldenSet, known: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Item id → the expected sources not among `known` (a dataset's source URIs); empty when all exist."""
    missing = {i.id: tuple(s for s in i.expected_sources if s not in known) for i in golden.items}
    return {item_id: sources for item_id, sources in missing.items() if sources}
