from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest

from homeport.core.limits import IDLE_FORGET, FailureLimiter, Rate, Throttle, source_key


def test_burst_then_refill() -> None:
    throttle = Throttle(Rate(per_minute=6, burst=3))
    assert [throttle.allow("h", 0.0) for _ in range(4)] == [True, True, True, False]
    assert throttle.blocked("h", 0.0)
    assert not throttle.allow("h", 9.0)  # 6/min = one token per 10 s
    assert throttle.allow("h", 10.5)
    assert not throttle.allow("h", 10.6)


def test_keys_are_independent() -> None:
    throttle = Throttle(Rate(per_minute=1, burst=1))
    assert throttle.allow("a", 0.0)
    assert not throttle.allow("a", 1.0)
    assert throttle.allow("b", 1.0)
    assert not throttle.blocked("c", 1.0)


def test_idle_keys_are_forgotten() -> None:
    throttle = Throttle(Rate(per_minute=1, burst=1))
    throttle.allow("a", 0.0)
    throttle.sweep(IDLE_FORGET + 1)
    assert len(throttle) == 0


def test_bad_rate_rejected() -> None:
    with pytest.raises(ValueError, match="rate"):
        Rate(per_minute=0, burst=1)


def test_refund_gives_back_but_never_above_the_burst() -> None:
    throttle = Throttle(Rate(per_minute=1, burst=2))
    assert throttle.allow("a", 0.0)
    assert throttle.allow("a", 0.0)
    throttle.refund("a", 0.0)
    assert throttle.allow("a", 0.0)
    assert not throttle.allow("a", 0.0)
    for _ in range(5):
        throttle.refund("a", 0.0)
    assert [throttle.allow("a", 0.0) for _ in range(3)] == [True, True, False]


def test_failure_limiter_charges_both_or_neither() -> None:
    limiter = FailureLimiter(Rate(per_minute=1, burst=3), Rate(per_minute=1, burst=2))
    # Two failures against "alice" spend her name budget ...
    assert limiter.charge("10.0.0.1", "alice", 0.0)
    assert limiter.charge("10.0.0.2", "alice", 0.0)
    # ... so a third is refused without taking the source's token,
    assert limiter.charge("10.0.0.1", "alice", 0.0) is None
    # which still has two left for other names.
    assert limiter.charge("10.0.0.1", "bob", 0.0)
    carol = limiter.charge("10.0.0.1", "carol", 0.0)
    assert carol is not None
    assert limiter.charge("10.0.0.1", "dave", 0.0) is None
    # An attempt never verified hands back what it took.
    limiter.refund(carol, 0.0)
    assert limiter.charge("10.0.0.1", "erin", 0.0)


def test_a_pair_that_succeeded_has_a_budget_of_its_own() -> None:
    limiter = FailureLimiter(Rate(per_minute=1, burst=2), Rate(per_minute=1, burst=2))
    router = limiter.charge("10.0.0.1", "alice", 0.0)
    assert router is not None
    limiter.succeeded(router, 0.0)
    # Others spend alice's name budget and the router's source budget ...
    assert limiter.charge("10.9.9.9", "alice", 0.0)
    assert limiter.charge("10.9.9.8", "alice", 0.0)
    assert limiter.charge("10.9.9.7", "alice", 0.0) is None
    assert limiter.charge("10.0.0.1", "bob", 0.0)
    assert limiter.charge("10.0.0.1", "carol", 0.0)
    assert limiter.charge("10.0.0.1", "dave", 0.0) is None
    # ... the router's own attempts are still admitted (and its successes cost nothing).
    for _ in range(5):
        again = limiter.charge("10.0.0.1", "alice", 0.0)
        assert again is not None
        assert again.trusted
        limiter.succeeded(again, 0.0)
    # Its own failures (or a guesser's behind the same address) spend its own budget.
    assert limiter.charge("10.0.0.1", "alice", 0.0)
    assert limiter.charge("10.0.0.1", "alice", 0.0)
    assert limiter.charge("10.0.0.1", "alice", 0.0) is None


def test_trusted_pairs_are_bounded() -> None:
    limiter = FailureLimiter(Rate(per_minute=1, burst=1), Rate(per_minute=60, burst=60), 2)
    for source in ("a", "b", "c"):
        charge = limiter.charge(source, "alice", 0.0)
        assert charge is not None
        limiter.succeeded(charge, 0.0)
    first = limiter.charge("a", "alice", 0.0)  # forgotten: back on the shared budgets
    assert first is not None
    assert not first.trusted
    third = limiter.charge("c", "alice", 0.0)
    assert third is not None
    assert third.trusted


def test_source_key_aggregates_ipv6_by_prefix() -> None:
    a = source_key(IPv6Address("2001:db8:1:2:aaaa::1"), 64)
    b = source_key(IPv6Address("2001:db8:1:2:ffff::9"), 64)
    c = source_key(IPv6Address("2001:db8:1:3::1"), 64)
    assert a == b == IPv6Network("2001:db8:1:2::/64")
    assert c != a
    assert source_key(IPv6Address("2001:db8:1:3::1"), 56) == IPv6Network("2001:db8:1::/56")
    assert source_key(IPv4Address("192.0.2.7"), 64) == IPv4Address("192.0.2.7")
