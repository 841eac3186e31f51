"""Retries with backoff and a circuit breaker for calls to a model server; pure state, injectable clock.

Only failures that mean "the server is not there right now" (UNAVAILABLE) are retried, and only before the
first piece of an answer reached the caller: a partial answer cannot be replayed. The breaker counts those
failures per model; after `failure_threshold` in a row it opens and calls fail at once (so a fallback model
answers without waiting for timeouts), and after `reset_after_s` one trial call is let through.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry an unavailable server."""

    attempts: int = 3
    """Calls in all, the first included."""
    base_delay_s: float = 0.1
    max_delay_s: float = 2.0

    def delays(self, rng: Callable[[], float] = random.random) -> Iterator[float]:
        """The pause before each retry: exponential with full jitter (uniform in [0, base·2^n], capped)."""
        for n in range(self.attempts - 1):
            yield rng() * min(self.max_delay_s, self.base_delay_s * 2**n)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Closed → open after consecutive failures → half-open after a pause → closed on one success."""

    failure_threshold: int = 5
    reset_after_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _trial_in_flight: bool = field(default=False, repr=False)

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open state only one trial call at a time."""
        if self.state is BreakerState.OPEN and self.clock() - self.opened_at >= self.reset_after_s:
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def retry_after_s(self) -> float:
        """Seconds until an open breaker lets a trial call through."""
        return max(0.0, self.reset_after_s - (self.clock() - self.opened_at))

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = BreakerState.OPEN
            self.opened_at = self.clock()
            self._trial_in_flight = False

    def release(self) -> None:
        """A call ended without telling whether the server is healthy (e.g. the caller cancelled)."""
        self._trial_in_flight = False
