"""The dyndns2 update protocol, both sides, without I/O.

Request: ``GET /nic/update?hostname=a,b&myip=IP[,IP]`` with HTTP Basic auth.
Response: ``text/plain``, one line per hostname in request order, or one line
for an account-level error. Codes and what a client must do: docs/architecture.md, dyndns2.

Server side: :func:`parse_update_query` reads every address form clients and
routers send (``myip`` lists in either order, ``myipv4``/``myipv6``,
``ip``/``ipv6``); :func:`render_line` writes a result line.
Client side: :func:`parse_response` splits a response into per-host results.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from homeport.errors import RemoteProtocolError

# Dyn's documented limit of hostnames in one request; more is answered `numhost`.
MAX_HOSTNAMES = 20


class Code(enum.Enum):
    GOOD = "good"
    NOCHG = "nochg"
    BADAUTH = "badauth"
    NOT_DONATOR = "!donator"
    NOTFQDN = "notfqdn"
    NOHOST = "nohost"
    NUMHOST = "numhost"
    ABUSE = "abuse"
    BADAGENT = "badagent"
    DNSERR = "dnserr"
    TROUBLE = "911"
    # Not in Dyn's table: homeport's word for "this address may not be published for
    # this host" (scoped, private, multicast, reserved...). A client must stop: sending
    # the same address again cannot succeed. ddclient 3.10 reports it as a failed update
    # and waits min-error-interval; inadyn 2.10 takes any unknown answer as fatal and exits.
    BADIP = "badip"


class Disposition(enum.Enum):
    """What a client must do after a code (docs/architecture.md, dyndns2: the codes table)."""

    PUBLISHED = "published"  # good / nochg: store the IP as published
    FATAL = "fatal"  # stop this host until its config changes
    RETRY = "retry"  # back off and retry
    RETRY_SLOW = "retry-slow"  # 911: not sooner than 30 minutes


DISPOSITION: dict[Code, Disposition] = {
    Code.GOOD: Disposition.PUBLISHED,
    Code.NOCHG: Disposition.PUBLISHED,
    Code.BADAUTH: Disposition.FATAL,
    Code.NOT_DONATOR: Disposition.FATAL,
    Code.NOTFQDN: Disposition.FATAL,
    Code.NOHOST: Disposition.FATAL,
    Code.NUMHOST: Disposition.FATAL,
    Code.ABUSE: Disposition.FATAL,
    Code.BADAGENT: Disposition.FATAL,
    Code.DNSERR: Disposition.RETRY,
    Code.TROUBLE: Disposition.RETRY_SLOW,
    Code.BADIP: Disposition.FATAL,
}

# Codes that concern the whole request (sent once, not once per host).
ACCOUNT_CODES = frozenset(
    {Code.BADAUTH, Code.NOT_DONATOR, Code.BADAGENT, Code.NUMHOST, Code.TROUBLE}
)

_BY_WORD = {code.value: code for code in Code}


@dataclass(frozen=True)
class ResponseLine:
    """One line of a dyndns2 response."""

    code: Code
    addresses: tuple[IPv4Address | IPv6Address, ...] = ()


class BadAddress(ValueError):
    """A request named an address that is not an IP address."""


def parse_address(text: str) -> IPv4Address | IPv6Address:
    """One IP address as a client sends it; BadAddress for anything else.

    ``ip_address`` accepts a scoped IPv6 address (``fe80::1%eth0``); a scope names
    an interface of the sender and has no meaning in DNS, so it is refused here.
    """
    try:
        address = ip_address(text.strip().strip("[]"))
    except ValueError:
        raise BadAddress(text) from None
    if isinstance(address, IPv6Address) and address.scope_id is not None:
        raise BadAddress(text)
    return address


@dataclass(frozen=True)
class UpdateQuery:
    """The meaning of a ``/nic/update`` query string."""

    hostnames: tuple[str, ...]
    ipv4: IPv4Address | None  # None: not given (the server may use the connection address)
    ipv6: IPv6Address | None
    offline: bool = False

    @property
    def has_address(self) -> bool:
        return self.ipv4 is not None or self.ipv6 is not None


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_address_list(values: Iterable[str]) -> tuple[IPv4Address | None, IPv6Address | None]:
    """Sort comma lists of addresses into one IPv4 and one IPv6 (either order).

    Fritz!Box routers may send an IPv6 prefix (``2001:db8::/64``); a prefix is
    not a host address and is skipped. Anything else unparsable is BadAddress.
    """
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    for value in values:
        for part in _split(value):
            if "/" in part:
                continue
            address = parse_address(part)
            if isinstance(address, IPv4Address):
                ipv4 = ipv4 or address
            else:
                ipv6 = ipv6 or address
    return ipv4, ipv6


def parse_update_query(pairs: Sequence[tuple[str, str]]) -> UpdateQuery:
    """Interpret a ``/nic/update`` query (pairs as sent, names case-insensitive)."""
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name.lower(), []).append(value)
    hostnames = tuple(
        name.lower().rstrip(".") for value in params.get("hostname", []) for name in _split(value)
    )
    ipv4, ipv6 = parse_address_list(
        params.get("myip", []) + params.get("ip", []) + params.get("myipv4", [])
    )
    only_v6_ipv4, ipv6_explicit = parse_address_list(
        params.get("myipv6", []) + params.get("ipv6", [])
    )
    if only_v6_ipv4 is not None:
        raise BadAddress(str(only_v6_ipv4))
    offline = any(v.strip().lower() in {"yes", "1", "true"} for v in params.get("offline", []))
    return UpdateQuery(hostnames, ipv4, ipv6_explicit or ipv6, offline)


def render_line(code: Code, addresses: Sequence[IPv4Address | IPv6Address] = ()) -> str:
    """``good 1.2.3.4``, ``nochg 1.2.3.4,2001:db8::1``, ``badauth``."""
    if addresses and code in (Code.GOOD, Code.NOCHG):
        return f"{code.value} {','.join(str(a) for a in addresses)}"
    return code.value


def parse_line(line: str) -> ResponseLine:
    """One response line; RemoteProtocolError for a word dyndns2 does not define."""
    words = line.strip().split()
    if not words:
        raise RemoteProtocolError("empty dyndns2 response line")
    code = _BY_WORD.get(words[0].lower())
    if code is None:
        raise RemoteProtocolError(f"unknown dyndns2 response {words[0][:40]!r}")
    addresses: list[IPv4Address | IPv6Address] = []
    for word in words[1:2]:
        for part in _split(word):
            try:
                addresses.append(ip_address(part))
            except ValueError:
                raise RemoteProtocolError(
                    f"bad address in dyndns2 response: {part[:60]!r}"
                ) from None
    return ResponseLine(code, tuple(addresses))


def parse_response(text: str, hostnames: Sequence[str]) -> list[ResponseLine]:
    """One :class:`ResponseLine` per hostname, in request order.

    An account-level code sent once applies to every host; otherwise the count
    of lines must match the count of hosts.
    """
    lines = [parse_line(line) for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and (len(hostnames) == 1 or lines[0].code in ACCOUNT_CODES):
        return lines * len(hostnames)
    if len(lines) != len(hostnames):
        raise RemoteProtocolError(
            f"dyndns2 response has {len(lines)} lines for {len(hostnames)} hosts"
        )
    return lines
