"""Domain errors: raised by pure logic, mapped to gRPC status codes at the transport edge."""

from __future__ import annotations

import nats.errors
import nats.js.errors

MESSAGE_WIRE_BYTES = 2048
"""Most bytes a message takes in a `grpc-message` trailer (percent-encoded UTF-8). gRPC's default metadata limit is
8 KiB: past it the client sees RESOURCE_EXHAUSTED instead of the refusal, so a message quoting a huge input is cut."""


def _wire_bytes(character: str) -> int:
    return 1 if " " <= character <= "~" and character != "%" else 3 * len(character.encode("utf-8", "surrogatepass"))


def clipped(message: str, limit: int = MESSAGE_WIRE_BYTES) -> str:
    """`message`, or its head and how much was cut when it would take more than `limit` bytes on the wire."""
    if len(message) * 12 <= limit or sum(map(_wire_bytes, message)) <= limit:
        return message
    budget, size, end = limit - 64, 0, 0
    for end, character in enumerate(message):  # noqa: B007 - `end` is read after the loop
        size += _wire_bytes(character)
        if size > budget:
            break
    return f"{message[:end]} … [{len(message) - end:,} more characters cut]"


class DomainError(Exception):
    """Base of every error a caller can act on; the message is shown to the caller as is (cut when a quoted input
    would make it too long for a gRPC status)."""

    status: str = "INTERNAL"

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(clipped(str(message)), *args)


class InvalidArgument(DomainError):
    """The request is malformed; the message says which field and what is allowed."""

    status = "INVALID_ARGUMENT"


class NotFound(DomainError):
    """A named resource does not exist (or is not visible to the caller)."""

    status = "NOT_FOUND"


class AlreadyExists(DomainError):
    """A resource with that identity exists already."""

    status = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The system is not in a state where the request can run."""

    status = "FAILED_PRECONDITION"


class PermissionDenied(DomainError):
    """The caller is authenticated but not allowed to do this."""

    status = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    """The caller's credentials are missing or invalid."""

    status = "UNAUTHENTICATED"


class ResourceExhausted(DomainError):
    """A quota, budget or size limit was exceeded."""

    status = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """A dependency is down; retrying later may succeed."""

    status = "UNAVAILABLE"


class DeadlineExceeded(DomainError):
    """The work did not finish within the caller's deadline."""

    status = "DEADLINE_EXCEEDED"


class Unimplemented(DomainError):
    """The method is part of the v1 contract but not built yet; the message names what is missing."""

    status = "UNIMPLEMENTED"


class PoisonMessage(Exception):
    """An event that can never be processed; it goes to the dead-letter subject at once."""


BUS_UNREACHABLE: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoServersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
)
"""NATS failures that say the bus is unreachable for now, wherever in a handler they surface (object store, KV,
publish): the call is answered UNAVAILABLE, which tells the client to retry, not INTERNAL."""
