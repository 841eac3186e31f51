"""SQLite for the embedded stores: one durable connection, calls serialised and run off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Database:
    """A SQLite file in WAL mode with fsync on commit; `run` executes a function on a worker thread."""

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(path, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.executescript(schema)
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn(connection)` on a worker thread, one call at a time."""

        def locked() -> T:
            with self._lock:
                return fn(self.connection)

        return await asyncio.to_thread(locked)

    async def close(self) -> None:
        """Closes the connection once pending calls finish."""
        await self.run(lambda connection: connection.close())
