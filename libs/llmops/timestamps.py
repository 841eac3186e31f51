"""datetime ↔ protobuf Timestamp, in one place for every mapper."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from llmops.errors import InvalidArgument


def to_timestamp(at: datetime | None) -> Timestamp:
    """A protobuf Timestamp; None gives the unset (zero) value."""
    ts = Timestamp()
    if at is not None:
        ts.FromDatetime(at)
    return ts


def from_timestamp(ts: Timestamp, is_set: bool = True, *, field: str = "timestamp") -> datetime | None:
    """An aware UTC datetime, or None for an unset field.

    Raises:
        InvalidArgument: a time no datetime can hold (before year 1, after 9999, or nanos out of range).
    """
    if not is_set:
        return None
    try:
        return ts.ToDatetime(UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(
            f"{field} is out of range (seconds {ts.seconds}, nanos {ts.nanos}); use a time between years 1 and 9999"
        ) from None
