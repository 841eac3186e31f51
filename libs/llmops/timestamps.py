"""datetime ↔ protobuf Timestamp, in one place for every mapper."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(at: datetime | None) -> Timestamp:
    """A protobuf Timestamp; None gives the unset (zero) value."""
    ts = Timestamp()
    if at is not None:
        ts.FromDatetime(at)
    return ts


def from_timestamp(ts: Timestamp, is_set: bool = True) -> datetime | None:
    """An aware UTC datetime, or None for an unset field."""
    return ts.ToDatetime(UTC) if is_set else None
