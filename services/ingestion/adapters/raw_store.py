"""Original document bytes in the JetStream object store, so events carry a reference and replays can re-parse."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Protocol, cast

from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from llmops.kv import Lazy
from services.ingestion.upload import Upload


class RawStore(Protocol):
    """Keeps each version's original bytes."""

    async def put(self, name: str, content: Upload) -> None: ...
    async def get(self, name: str) -> bytes | None: ...
    async def delete(self, name: str) -> None: ...


class ObjectStoreRawStore:
    """RawStore on a JetStream object store bucket, opened (and created if missing) on first use."""

    def __init__(self, open_bucket: Callable[[], Awaitable[ObjectStore]]) -> None:
        self._get_bucket = Lazy(open_bucket)

    async def put(self, name: str, content: Upload) -> None:
        # The object store reads the file in chunks, so a large spooled upload is never loaded whole.
        # nats-py reads any file with `readinto` (in its executor); its annotation names only BufferedIOBase.
        await (await self._get_bucket()).put(name, cast(io.BufferedIOBase, content.open()))

    async def get(self, name: str) -> bytes | None:
        try:
            result = await (await self._get_bucket()).get(name)
        except (ObjectNotFoundError, NotFoundError):
            return None
        return bytes(result.data or b"")

    async def delete(self, name: str) -> None:
        try:
            await (await self._get_bucket()).delete(name)
        except (ObjectNotFoundError, NotFoundError):
            return


class NoRawStore:
    """Keeps nothing; for unit tests of the use cases that do not concern raw bytes."""

    async def put(self, name: str, content: Upload) -> None:
        return

    async def get(self, name: str) -> bytes | None:
        return None

    async def delete(self, name: str) -> None:
        return
