"""Retry delays and the circuit breaker's state machine, on a fake clock."""

from __future__ import annotations

import pytest

from services.inference.resilience import BreakerState, CircuitBreaker, RetryPolicy

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_retry_delays_grow_exponentially_are_jittered_and_capped() -> None:
    policy = RetryPolicy(attempts=6, base_delay_s=0.1, max_delay_s=0.5)
    assert list(policy.delays(rng=lambda: 1.0)) == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert list(policy.delays(rng=lambda: 0.5)) == [0.05, 0.1, 0.2, 0.25, 0.25]
    assert list(RetryPolicy(attempts=1).delays()) == []


def test_the_breaker_opens_after_consecutive_failures_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()


def test_an_open_breaker_lets_one_trial_through_after_the_pause() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 4
    assert not breaker.allow() and breaker.retry_after_s() == pytest.approx(6)
    clock.now += 6
    assert breaker.allow() and breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # one trial at a time
    breaker.record_failure()  # the trial failed: open again, for a full pause
    assert breaker.state is BreakerState.OPEN and breaker.retry_after_s() == pytest.approx(10)
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()


def test_a_cancelled_trial_frees_the_half_open_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()
