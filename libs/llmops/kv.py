"""JSON documents in NATS key-value buckets: opened on first use, changed only by compare-and-set.

Every writer re-reads and re-applies its change when another writer got in first, so concurrent replicas never
lose an update; a change that leaves the document as it was writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel

B = TypeVar("B")
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Lazy(Generic[B]):
    """A bucket (key-value or object store) opened, and created if missing, on first use."""

    def __init__(self, open_bucket: Callable[[], Awaitable[B]]) -> None:
        self._open_bucket = open_bucket
        self._bucket: B | None = None

    async def __call__(self) -> B:
        if self._bucket is None:
            self._bucket = await self._open_bucket()
        return self._bucket


class KeyMissing(LookupError):
    """The key holds no document (and the change was not allowed to create one)."""


class TooManyWriters(RuntimeError):
    """Every compare-and-set attempt lost to another writer."""


async def read_json(bucket: KeyValue, key: str, model: type[M]) -> tuple[M, int] | None:
    """The document at `key` and its revision, or None."""
    try:
        entry = await bucket.get(key)
    except KeyNotFoundError:
        return None
    return model.model_validate_json(entry.value or b"{}"), entry.revision or 0


async def compare_and_set(
    bucket: KeyValue,
    key: str,
    model: type[M],
    change: Callable[[M], tuple[M, T]],
    *,
    missing: Callable[[], M] | None = None,
    attempts: int = 20,
) -> T:
    """Applies `change` to the document at `key` and returns its result; `missing` makes the first document
    (without it, an absent key raises KeyMissing)."""
    for _ in range(attempts):
        found = await read_json(bucket, key, model)
        if found is not None:
            current, revision = found
        elif missing is not None:
            current, revision = missing(), 0
        else:
            raise KeyMissing(key)
        updated, result = change(current)
        if updated == current:
            return result
        body = updated.model_dump_json().encode()
        try:
            if revision:
                await bucket.update(key, body, last=revision)
            else:
                await bucket.create(key, body)
        except KeyWrongLastSequenceError:
            continue
        return result
    raise TooManyWriters(key)
