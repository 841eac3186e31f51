"""Token buckets and deadline propagation: pure logic, with a hand-driven clock."""

from __future__ import annotations

import math

import pytest

from llmops.grpc_client import (
    bind_incoming_deadline,
    outgoing_metadata,
    propagated_timeout,
    remaining_s,
    reset_incoming_deadline,
)
from llmops.security.limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_admits_its_burst_then_refuses_with_the_wait_until_the_next_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.acquire("t/alice") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("t/alice") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("t/alice") == 0.0
    assert limiter.acquire("t/alice") == pytest.approx(0.5)


def test_twice_the_rate_for_ten_seconds_admits_the_burst_plus_what_the_rate_refilled() -> None:
    clock = Clock()
    rate, burst, step = 8.0, 5, 1 / 16  # 16 calls/s against 8/s; binary fractions keep the arithmetic exact
    limiter = RateLimiter(rate_per_s=rate, burst=burst, clock=clock)
    calls = 160
    admitted = 0
    for _ in range(calls):
        admitted += limiter.acquire("t/bot") == 0.0
        clock.now += step
    elapsed = (calls - 1) * step
    assert admitted == burst + math.floor(rate * elapsed)  # 84 of 160: the excess is refused


def test_principals_have_separate_buckets() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=Clock())
    assert limiter.acquire("a/x") == 0.0
    assert limiter.acquire("a/x") > 0
    assert limiter.acquire("b/x") == 0.0


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=100.0, burst=2, clock=clock)
    limiter.acquire("k")
    clock.now += 3600
    assert [limiter.acquire("k") == 0.0 for _ in range(3)] == [True, True, False]


def test_only_the_most_recently_used_buckets_are_kept() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, max_keys=2, clock=Clock())
    for key in ("a", "b", "a", "c"):
        limiter.acquire(key)
    assert len(limiter) == 2
    assert limiter.acquire("a") > 0  # kept: used recently, still empty
    assert limiter.acquire("b") == 0.0  # dropped, so it starts full again


@pytest.mark.parametrize(("rate", "burst", "keys"), [(0.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int, keys: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, max_keys=keys)


def test_an_outgoing_timeout_is_capped_by_what_is_left_of_the_incoming_deadline() -> None:
    assert remaining_s() is None
    assert propagated_timeout(5.0) == 5.0
    token = bind_incoming_deadline(1.0)
    try:
        left = remaining_s()
        assert left is not None and 0.0 < left <= 1.0
        assert propagated_timeout(5.0) == pytest.approx(left, abs=0.05)
        assert propagated_timeout(0.2) == 0.2
        capped = propagated_timeout(None)
        assert capped is not None and capped <= 1.0
    finally:
        reset_incoming_deadline(token)
    assert propagated_timeout(None) is None


def test_an_incoming_call_without_a_deadline_leaves_timeouts_alone() -> None:
    token = bind_incoming_deadline(None)
    try:
        assert propagated_timeout(3.0) == 3.0
        assert propagated_timeout(None) is None
    finally:
        reset_incoming_deadline(token)


def test_the_service_key_is_added_unless_the_call_already_carries_a_credential() -> None:
    plain = outgoing_metadata([("x-llmops-tenant", "acme")], "llm_key")
    assert ("x-api-key", "llm_key") in list(plain)
    assert ("x-llmops-tenant", "acme") in list(plain)
    own = outgoing_metadata([("authorization", "Bearer t")], "llm_key")
    assert [k for k, _ in own] == ["authorization"]
    assert list(outgoing_metadata(None, None)) == []
