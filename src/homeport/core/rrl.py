"""DNS response-rate limiting (RRL), pure: the caller passes ``now``.

BIND's RRL, simplified: responses to one client network (IPv4 /24, IPv6 /56 —
BIND's default ``ipv4-prefix-length``/``ipv6-prefix-length``) are counted in a
token bucket. Past the limit, every ``slip``-th limited response is replaced by
a TC=1 reply with no answers (a real client retries over TCP, which cannot be
spoofed), the rest are dropped: a spoofed-source flood cannot turn the server
into an amplifier, and a real client behind the same network still gets through.
UDP only; TCP answers are never limited.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

# A home or community DDNS server sees a few queries per second per resolver;
# 100/s per client network leaves ample room for a busy resolver farm's /24.
DEFAULT_RESPONSES_PER_SECOND = 100.0
# Burst = one second's worth on top, so a resolver's cold-cache burst passes.
DEFAULT_BURST = 100.0
# BIND's default slip: every second limited response is a TC=1 reply.
DEFAULT_SLIP = 2
# Bound on tracked client networks; idle full buckets are forgotten past it.
MAX_CLIENTS = 100_000


class Verdict(enum.IntEnum):
    SEND = 0
    SLIP = 1  # send a truncated (TC=1) reply instead
    DROP = 2


@dataclass(frozen=True)
class RrlConfig:
    responses_per_second: float = DEFAULT_RESPONSES_PER_SECOND
    burst: float = DEFAULT_BURST
    slip: int = DEFAULT_SLIP  # 0 = never slip, drop every limited response
    max_clients: int = MAX_CLIENTS


def client_network(address: str) -> bytes:
    """The key of a client's network from its address text: IPv4 /24 or IPv6 /56."""
    if ":" not in address:
        return IPv4Address(address).packed[:3]
    packed = IPv6Address(address.partition("%")[0]).packed
    if packed[:12] == b"\x00" * 10 + b"\xff\xff":  # IPv4-mapped: use the IPv4 /24
        return packed[12:15]
    return packed[:7]


def network_of_sockaddr(sockaddr: bytes) -> bytes:
    """The network key of a raw Linux ``struct sockaddr_in``/``sockaddr_in6``."""
    if sockaddr[:2] == b"\x0a\x00":  # AF_INET6 (little-endian sa_family)
        address = sockaddr[8:24]
        if address[:12] == b"\x00" * 10 + b"\xff\xff":  # IPv4-mapped
            return address[12:15]
        return address[:7]
    return sockaddr[4:7]  # AF_INET: the /24


class ResponseRateLimiter:
    """Token buckets per client network; :meth:`check` says what to do with one response."""

    def __init__(self, config: RrlConfig | None = None) -> None:
        self.config = config or RrlConfig()
        # network -> [tokens, last update, limited responses so far]
        self._buckets: dict[bytes, list[float]] = {}

    def check(self, network: bytes, now: float) -> Verdict:
        """What to do with one response to a client in ``network`` (a key from above)."""
        cfg = self.config
        key = network
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= cfg.max_clients:
                self._prune(now)
            bucket = self._buckets[key] = [cfg.burst + cfg.responses_per_second, now, 0.0]
        tokens = min(
            cfg.burst + cfg.responses_per_second,
            bucket[0] + (now - bucket[1]) * cfg.responses_per_second,
        )
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return Verdict.SEND
        bucket[0] = tokens
        bucket[2] += 1
        if cfg.slip and int(bucket[2]) % cfg.slip == 0:
            return Verdict.SLIP
        return Verdict.DROP

    def _prune(self, now: float) -> None:
        # Forget networks whose bucket has refilled: they are not limited, so
        # recreating them later is the same state.
        cfg = self.config
        full = cfg.burst + cfg.responses_per_second
        refill = full / cfg.responses_per_second
        stale = [k for k, b in self._buckets.items() if now - b[1] >= refill or b[0] >= full]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= cfg.max_clients:
            self._buckets.clear()  # under a spread-out flood, fail open rather than grow

    def __len__(self) -> int:
        return len(self._buckets)
