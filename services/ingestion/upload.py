"""A document's bytes as received: whole in memory, or streamed into a spool file that spills to disk.

`IngestStream` accepts documents far larger than the unary limit without holding them in memory: each
content message is hashed and appended to a `SpooledTemporaryFile` (in memory up to `memory_bytes`, then on
disk), and the size limit is enforced as bytes arrive, so an oversized upload is refused before it is stored.
Parsers and the object store read the spool back as a file.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path
from typing import IO

from llmops.errors import InvalidArgument

SPOOL_MEMORY_BYTES = 1024 * 1024


class Upload:
    """Bytes with their size and SHA-256, re-readable from the start as often as needed."""

    def __init__(self, file: IO[bytes], size: int, digest: str, *, streamed: bool) -> None:
        self._file = file
        self.size = size
        self.digest = digest
        self.streamed = streamed
        """Arrived through IngestStream, so the larger streaming size limit applies."""

    @classmethod
    def of(cls, content: bytes) -> Upload:
        """An upload received whole."""
        return cls(io.BytesIO(content), len(content), hashlib.sha256(content).hexdigest(), streamed=False)

    def open(self) -> IO[bytes]:
        """The file, rewound; one reader at a time."""
        self._file.seek(0)
        return self._file

    def read(self) -> bytes:
        """All of it, for the formats whose text is needed whole anyway."""
        return self.open().read()

    def close(self) -> None:
        """Frees the spool (deletes its file, if it spilled to disk)."""
        self._file.close()

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class UploadSpool:
    """Collects streamed content messages into an `Upload`, refusing it as soon as it passes `limit` bytes."""

    def __init__(self, limit: int, directory: Path | None = None, memory_bytes: int = SPOOL_MEMORY_BYTES) -> None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - handed to the Upload, closed there
            max_size=memory_bytes, dir=str(directory) if directory else None, prefix="llmops-upload-"
        )

    def write(self, chunk: bytes) -> None:
        """Appends one content message."""
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise InvalidArgument(
                f"document is over the {self.limit}-byte streaming limit (received {self.size} bytes so far); "
                "split it, or ask the operator to raise LLMOPS_INGESTION_MAX_STREAM_BYTES"
            )
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> Upload:
        """The complete upload; the spool now belongs to it."""
        self._file.flush()
        return Upload(self._file, self.size, self._hash.hexdigest(), streamed=True)

    def discard(self) -> None:
        """Drops what was received (the stream failed or was refused)."""
        self._file.close()
