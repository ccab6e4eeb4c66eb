"""Token-bucket throttles keyed by host, token or source address (pure; ``now`` injected)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from homeport.core.units import MINUTE

# Forget a key once its bucket has been full this long: memory stays bounded by
# the number of recently active keys, not by everyone who ever knocked.
IDLE_FORGET = 10 * MINUTE
# How many calls between sweeps of idle keys; amortises the sweep to O(1) per call.
SWEEP_EVERY = 4096


@dataclass(frozen=True)
class Rate:
    """``per_minute`` sustained, up to ``burst`` at once."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_minute > 0 and burst >= 1")


class Throttle:
    """Token buckets keyed by anything hashable."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)
        self._calls = 0

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.rate.burst), now))
        refill = max(0.0, now - at) * self.rate.per_minute / MINUTE
        return min(float(self.rate.burst), tokens + refill)

    def allow(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens for ``key`` if it has them."""
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            self.sweep(now)
        tokens = self._tokens(key, now)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - cost, now)
        return True

    def blocked(self, key: Hashable, now: float) -> bool:
        """Whether ``key`` has no whole token left (without taking one)."""
        return key in self._buckets and self._tokens(key, now) < 1.0

    def sweep(self, now: float) -> None:
        idle = [k for k, (_, at) in self._buckets.items() if now - at > IDLE_FORGET]
        for key in idle:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
