from __future__ import annotations

import pytest

from homeport.core.limits import IDLE_FORGET, Rate, Throttle


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
