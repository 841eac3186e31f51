"""Where API key records live: a `KeyStore` port, an in-memory twin and a JSON file of hashed records.

The file holds only `ApiKeyRecord`s (salt and scrypt digest, never a secret), so operators can keep it in a
secret store or config map and edit it with ordinary tools. It is re-read when it changes on disk, so a revocation
applies to the next call without a restart. A file that cannot be read refuses every key (fail closed) rather than
keep serving an old list that may still hold a revoked key.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from llmops.errors import AlreadyExists, NotFound, Unavailable
from llmops.logging import get_logger
from llmops.security.api_keys import ApiKeyRecord

log = get_logger(__name__)


class KeyStore(Protocol):
    """Stored API key records, by key id."""

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record for `key_id`, or None."""
        ...

    def put(self, record: ApiKeyRecord) -> None:
        """Adds a new record.

        Raises:
            AlreadyExists: a record with that key id exists.
        """
        ...

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Marks a key revoked (the record stays, for the audit trail) and returns the new record.

        Raises:
            NotFound: no such key id.
        """
        ...

    def records(self) -> list[ApiKeyRecord]:
        """Every record, in key id order."""
        ...


class InMemoryKeyStore:
    """A `KeyStore` in a dict: tests and the embedded mode."""

    def __init__(self, records: list[ApiKeyRecord] | None = None) -> None:
        self._records = {r.key_id: r for r in records or ()}
        self._lock = threading.Lock()

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record for `key_id`, or None."""
        return self._records.get(key_id)

    def put(self, record: ApiKeyRecord) -> None:
        """Adds a new record; `AlreadyExists` if the key id is taken."""
        with self._lock:
            if record.key_id in self._records:
                raise AlreadyExists(f"API key {record.key_id} exists already")
            self._records[record.key_id] = record

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Marks a key revoked; `NotFound` if there is none."""
        with self._lock:
            record = self._records.get(key_id)
            if record is None:
                raise NotFound(f"no API key {key_id}")
            revoked = record.model_copy(update={"revoked": True})
            self._records[key_id] = revoked
            return revoked

    def records(self) -> list[ApiKeyRecord]:
        """Every record, in key id order."""
        return [self._records[k] for k in sorted(self._records)]


class KeyFile(BaseModel):
    """The JSON document a `JsonFileKeyStore` reads and writes."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    """Format version."""
    keys: list[ApiKeyRecord] = []
    """Hashed key records."""


class JsonFileKeyStore:
    """A `KeyStore` backed by a JSON file of hashed records (`{"version": 1, "keys": [...]}`).

    A missing file is an empty store. Writes replace the file atomically with owner-only permissions.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._records: dict[str, ApiKeyRecord] = {}
        self._broken = False
        # A bad file at startup is the operator's to fix now: fail loudly with the details.
        self._records = self._read()
        self._stamp = self._current_stamp()

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record for `key_id`, or None.

        Raises:
            Unavailable: the file changed and cannot be read; every key is refused until it is fixed.
        """
        with self._lock:
            self._refresh()
            return self._records.get(key_id)

    def put(self, record: ApiKeyRecord) -> None:
        """Adds a new record and rewrites the file; `AlreadyExists` if the key id is taken."""
        with self._lock:
            self._refresh()
            if record.key_id in self._records:
                raise AlreadyExists(f"API key {record.key_id} exists already")
            self._write({**self._records, record.key_id: record})

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Marks a key revoked and rewrites the file; `NotFound` if there is none."""
        with self._lock:
            self._refresh()
            record = self._records.get(key_id)
            if record is None:
                raise NotFound(f"no API key {key_id}")
            revoked = record.model_copy(update={"revoked": True})
            self._write({**self._records, key_id: revoked})
            return revoked

    def records(self) -> list[ApiKeyRecord]:
        """Every record, in key id order."""
        with self._lock:
            self._refresh()
            return [self._records[k] for k in sorted(self._records)]

    def _current_stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def _refresh(self) -> None:
        stamp = self._current_stamp()
        if stamp == self._stamp and not self._broken:
            return
        try:
            self._records = self._read()
        except ValueError:
            self._broken = True
            self._stamp = stamp
            log.exception("API key file unreadable; every key is refused until it is fixed", path=str(self._path))
            raise Unavailable("API keys cannot be checked right now") from None
        self._broken = False
        self._stamp = stamp

    def _read(self) -> dict[str, ApiKeyRecord]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            document = KeyFile.model_validate_json(text)
        except ValidationError as exc:
            raise ValueError(f"{self._path} is not a valid API key file: {exc}") from None
        records: dict[str, ApiKeyRecord] = {}
        for record in document.keys:
            if record.key_id in records:
                raise ValueError(f"{self._path} lists key id {record.key_id} twice")
            records[record.key_id] = record
        return records

    def _write(self, records: dict[str, ApiKeyRecord]) -> None:
        document: dict[str, Any] = KeyFile(keys=[records[k] for k in sorted(records)]).model_dump(mode="json")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self._path.name}.", dir=self._path.parent)
        try:
            # Keep the mode an operator gave the file (e.g. 0644 for the services' user); new files start 0600.
            os.fchmod(handle, stat.S_IMODE(self._path.stat().st_mode) if self._path.exists() else 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self._path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._records = records
        self._stamp = self._current_stamp()
        self._broken = False
