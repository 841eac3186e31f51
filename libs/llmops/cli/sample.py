"""The sample dataset: CPython's own documentation topics (`pydoc_data.topics`), shipped with every Python."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

SAMPLE_DATASET = "python-docs"


@dataclass(frozen=True)
class SampleDocument:
    """One documentation topic as a document to ingest."""

    source_uri: str
    title: str
    text: str


def sample_documents() -> Iterator[SampleDocument]:
    """Every topic of the Python language reference bundled with this interpreter."""
    from pydoc_data.topics import topics

    for key in sorted(topics):
        text = topics[key].strip()
        if text:
            yield SampleDocument(f"pydoc://topics/{key}", f"Python reference: {key}", text)
