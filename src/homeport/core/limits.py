"""Token-bucket throttles keyed by host, token or source address (pure; ``now`` injected).

Several server instances on one PostgreSQL database each keep their own buckets. For
the request throttles (per host, per token, per source connection) and DNS RRL that is
right: they bound the work one client causes on the instance that answers it, and
sharing them would cost a database write per request. :class:`FailureLimiter`'s
budgets bound password guessing, and there N instances behind a balancer would give a
guesser N times the budget: each instance charges the failures the others write to
the database (homeport.server.shared_limits), within a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network

from homeport.core.units import MINUTE

# Forget a key once its bucket has been full this long: memory stays bounded by
# the number of recently active keys, not by everyone who ever knocked.
IDLE_FORGET = 10 * MINUTE
# How many calls between sweeps of idle keys; amortises the sweep to O(1) per call.
SWEEP_EVERY = 4096
# (source, name) pairs remembered as having logged in: one per client and name, so far
# above the accounts a server has (an entry is ~200 bytes); past it the oldest goes.
MAX_TRUSTED = 65536


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

    def refund(self, key: Hashable, now: float, cost: float = 1.0) -> None:
        """Give back ``cost`` tokens taken by :meth:`allow` (never above the burst)."""
        if key in self._buckets:
            self._buckets[key] = (min(float(self.rate.burst), self._tokens(key, now) + cost), now)

    def blocked(self, key: Hashable, now: float) -> bool:
        """Whether ``key`` has no whole token left (without taking one)."""
        return key in self._buckets and self._tokens(key, now) < 1.0

    def sweep(self, now: float) -> None:
        idle = [k for k, (_, at) in self._buckets.items() if now - at > IDLE_FORGET]
        for key in idle:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def source_key(address: IPv4Address | IPv6Address, ipv6_prefix: int) -> Hashable:
    """The throttle key for a client address: IPv4 as is, IPv6 by its ``/ipv6_prefix``.

    One IPv6 subscriber gets a whole /64 (RFC 6177 recommends /56 or /48 for sites), so a
    per-address key would give one attacker 2**64 fresh budgets.
    """
    if isinstance(address, IPv4Address):
        return address
    shift = 128 - ipv6_prefix
    return IPv6Network((int(address) >> shift << shift, ipv6_prefix))


@dataclass(frozen=True)
class Charge:
    """What :meth:`FailureLimiter.charge` took, to give back exactly that."""

    source: Hashable | None
    name: Hashable | None
    trusted: bool  # taken from the (source, name) pair's own budget only


class FailureLimiter:
    """Failed-login budgets per source and per credential name, charged *before* verifying.

    A request that may fail takes one token from its source's budget and one from its
    name's budget in the same synchronous step that decides whether it may be verified
    at all, so a hundred concurrent guesses cannot all pass a check made before any of
    them failed, and a guess that is refused is never compared with anything (no
    oracle). A success gives the tokens back: only failures are counted.

    A (source, name) pair that succeeded before is trusted: it is charged on a budget of
    its own, so failures from elsewhere against that name, or from that source against
    other names, never lock it out. Only failures from the same source with the same
    name -- indistinguishable from the client itself -- share its budget.
    """

    def __init__(self, per_source: Rate, per_name: Rate, max_trusted: int = MAX_TRUSTED) -> None:
        self.sources = Throttle(per_source)
        self.names = Throttle(per_name)
        self.pairs = Throttle(per_source)  # a trusted pair's budget: that of one source
        self._trusted: dict[tuple[Hashable, Hashable], None] = {}  # insertion order = age
        self._max_trusted = max_trusted

    def charge(self, source: Hashable | None, name: Hashable | None, now: float) -> Charge | None:
        """Take a failure token from each budget that applies, or none if one is spent."""
        if source is not None and name is not None and (source, name) in self._trusted:
            return Charge(source, name, True) if self.pairs.allow((source, name), now) else None
        if source is not None and not self.sources.allow(source, now):
            return None
        if name is not None and not self.names.allow(name, now):
            if source is not None:
                self.sources.refund(source, now)
            return None
        return Charge(source, name, False)

    def refund(self, charge: Charge, now: float) -> None:
        """Give back what :meth:`charge` took (the attempt was never verified)."""
        if charge.trusted:
            self.pairs.refund((charge.source, charge.name), now)
            return
        if charge.source is not None:
            self.sources.refund(charge.source, now)
        if charge.name is not None:
            self.names.refund(charge.name, now)

    def succeeded(self, charge: Charge, now: float) -> None:
        """The credential was right: refund, and trust this (source, name) from now on."""
        self.refund(charge, now)
        if charge.source is None or charge.name is None:
            return
        pair = (charge.source, charge.name)
        self._trusted.pop(pair, None)
        self._trusted[pair] = None
        if len(self._trusted) > self._max_trusted:
            del self._trusted[next(iter(self._trusted))]  # the least recently successful
