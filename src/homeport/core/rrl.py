"""DNS response-rate limiting (RRL), pure: the caller passes ``now``.

BIND's RRL (ARM "Response Rate Limiting"), simplified: responses are counted in
a token bucket per *identical response* to one client network (IPv4 /24, IPv6
/56 — BIND's default ``ipv4-prefix-length``/``ipv6-prefix-length``), where
identical means (:func:`response_key`):

- answers: the same question name and type (BIND counts answers made from a
  wildcard per wildcard; here they count per name: the one gap);
- NXDOMAIN and NODATA: the same zone (the SOA owner in the authority section),
  whatever the name, so random names cannot dodge the limit;
- referrals: the same delegation point;
- errors (REFUSED, FORMERR, ...): all of them, per network.

So a neighbour's NXDOMAIN flood empties only its own bucket, never another
client's answers. Past the limit, every ``slip``-th limited response is replaced
by a TC=1 reply with no answers (a real client retries over TCP, which cannot be
spoofed), the rest are dropped: a spoofed-source flood cannot turn the server
into an amplifier. UDP only; TCP answers, and UDP queries with a valid DNS
server cookie (RFC 7873 §5.2.5: the source is not spoofed), are never limited.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

# Per identical response: a resolver caches an answer for its TTL (60 s here), so
# even a resolver farm's /24 asks one name a few times a minute; 100/s per name
# only ever limits floods.
DEFAULT_RESPONSES_PER_SECOND = 100.0
# Burst = one second's worth on top, so a resolver's cold-cache burst passes.
DEFAULT_BURST = 100.0
# BIND's default slip: every second limited response is a TC=1 reply.
DEFAULT_SLIP = 2
# Bound on tracked (network, response) buckets; idle full ones are forgotten past it.
MAX_CLIENTS = 100_000

# The kinds of response BIND's RRL counts apart (one byte in the key; none for
# answers, whose name + type follow the network directly).
NODATA, NXDOMAIN, REFERRAL, ERROR = b"d", b"x", b"r", b"e"
_AA = 0x04  # in the third header byte
_TC = 0x02
_ONE = b"\x00\x01"  # QDCOUNT


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


def response_key(network: bytes, resp: bytes) -> bytes:
    """The bucket key of one response to a client network: network [+ kind] + name.

    Read from our own response bytes: the question is copied uncompressed, and
    the first authority record's owner is a pointer into the question name
    (the zone of a negative answer, the delegation point of a referral).
    Names are lower-cased: 0x20 case randomisation must not make new buckets.
    """
    qend = resp.find(0, 12) + 1
    if not resp[3] & 15 and (resp[7] or resp[6] or resp[2] & _TC) and resp[4:6] == _ONE:
        # The common case, kept short: the name's first byte (a label length, < 64)
        # cannot be mistaken for a kind letter.
        return network + resp[12 : qend + 2].lower()  # name + type
    rcode = resp[3] & 15
    if (rcode != 0 and rcode != 3) or resp[4:6] != _ONE:  # not NOERROR/NXDOMAIN
        return network + ERROR
    kind = NXDOMAIN if rcode == 3 else NODATA if resp[2] & _AA else REFERRAL
    at = qend + 4  # the first authority record, right after the question
    if len(resp) > at + 1 and resp[at] >= 0xC0:
        offset = (((resp[at] & 0x3F) << 8) | resp[at + 1]) - 12
        if 0 <= offset < qend - 12:
            return network + kind + resp[12 + offset : qend].lower()
    return network + kind


class ResponseRateLimiter:
    """Token buckets per key (:func:`response_key`); :meth:`check` says what to do.

    Each bucket is one float, its *theoretical arrival time* (the generic cell
    rate algorithm, equivalent to a token bucket of ``burst + rate`` tokens
    refilled at ``rate``): the time at which the bucket would be full again.
    One float per key keeps a table of a hundred thousand names small and the
    check short; it runs for every UDP answer. The slip counter is shared: every
    ``slip``-th limited response, whichever bucket it came from, slips.
    """

    def __init__(self, config: RrlConfig | None = None) -> None:
        cfg = self.config = config or RrlConfig()
        self._interval = 1.0 / cfg.responses_per_second
        # A full bucket lets burst + rate responses through at once: the arrival
        # time may run that many intervals (less the one being sent) ahead of now.
        # The tiny margin absorbs float rounding over the additions.
        capacity = cfg.burst + cfg.responses_per_second
        self._tolerance = (capacity - 1.0 + 1e-6) * self._interval
        self._tat: dict[bytes, float] = {}  # key -> theoretical arrival time
        self._limited = 0

    def check(self, key: bytes, now: float) -> Verdict:
        """What to do with one response whose bucket is ``key`` (:func:`response_key`)."""
        tats = self._tat
        tat = tats.get(key)
        if tat is None:
            if len(tats) >= self.config.max_clients:
                self._prune(now)
            tat = now
        elif tat < now:
            tat = now
        if tat - now <= self._tolerance:
            tats[key] = tat + self._interval
            return _SEND
        self._limited += 1
        slip = self.config.slip
        return _SLIP if slip and self._limited % slip == 0 else _DROP

    def _prune(self, now: float) -> None:
        # Forget full buckets (arrival time passed): recreating them later is the
        # same state.
        tats = self._tat
        for key in [k for k, tat in tats.items() if tat <= now]:
            del tats[key]
        if len(tats) >= self.config.max_clients:
            tats.clear()  # under a spread-out flood, fail open rather than grow

    def __len__(self) -> int:
        return len(self._tat)


_SEND, _SLIP, _DROP = Verdict.SEND, Verdict.SLIP, Verdict.DROP
