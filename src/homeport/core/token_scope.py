"""What a scoped API token may do: which hosts, which record types, from where, until when.

An account's scoped tokens (made on the dashboard) update only what they were made
for: a router's token its own name's addresses, a certificate client's token only the
ACME challenge at one name. Pure: the form's text in, a :class:`TokenScope` or one
line saying what is wrong out; a request's parts in, a yes or no out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from homeport.core.units import DAY

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# A host's address records, its own TXT value (token API ``txt=``), and the ACME DNS-01
# challenge TXT at ``_acme-challenge.<host>`` (httpreq): what an update API can change.
RECORD_TYPES = ("A", "AAAA", "TXT", "ACME")
# Source networks one token lists: a home's prefixes and a VPN's, not a routing table.
MAX_SUBNETS = 16
# A token's longest life when it has one: ten years is "until I forget about it".
MAX_DAYS = 3650


@dataclass(frozen=True)
class TokenScope:
    """Empty ``hosts``: every host of the owner; empty ``subnets``: from anywhere."""

    hosts: frozenset[str] = frozenset()  # absolute names, with the dot
    types: frozenset[str] = frozenset(RECORD_TYPES)
    subnets: tuple[Network, ...] = ()
    expires: float | None = None

    def allows_host(self, fqdn: str) -> bool:
        return not self.hosts or fqdn in self.hosts

    def allows_types(self, types: Iterable[str]) -> bool:
        return set(types) <= self.types

    def allows_source(self, source: Address | None) -> bool:
        """An unknown source passes only a token that names no networks."""
        if not self.subnets:
            return True
        return source is not None and any(
            source.version == net.version and source in net for net in self.subnets
        )

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires


def parse_subnets(text: str) -> tuple[Network, ...]:
    """Networks separated by spaces or commas; ValueError with a one-line message."""
    items = [item for item in text.replace(",", " ").split() if item]
    if len(items) > MAX_SUBNETS:
        raise ValueError(f"at most {MAX_SUBNETS} networks")
    networks: list[Network] = []
    for item in items:
        try:
            # strict: 192.0.2.7/24 is more likely a typo than a wish for 192.0.2.0/24.
            networks.append(ip_network(item, strict=True))
        except ValueError:
            raise ValueError(f"{item[:60]!r} is not a network (such as 192.0.2.0/24)") from None
    return tuple(networks)


def parse_days(text: str, now: float) -> float | None:
    """An expiry ``text`` days from ``now`` (empty: never); ValueError if out of range."""
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 5) or not (
        1 <= int(text) <= MAX_DAYS
    ):
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}, or empty")
    return now + int(text) * DAY


def make_scope(
    hosts: Iterable[str],
    own_hosts: Iterable[str],
    types: Iterable[str],
    subnets: str,
    days: str,
    now: float,
) -> TokenScope:
    """A scope from a form's fields; ValueError (one line) for anything not allowed.

    ``hosts``: the chosen names, each one of ``own_hosts`` (none chosen: all of them).
    """
    own = set(own_hosts)
    chosen = frozenset(hosts)
    if not chosen <= own:
        raise ValueError("a chosen host is not one of this account's")
    kinds = frozenset(types)
    if not kinds:
        raise ValueError("choose at least one record type")
    if not kinds <= set(RECORD_TYPES):
        raise ValueError(f"record types are {', '.join(RECORD_TYPES)}")
    return TokenScope(chosen, kinds, parse_subnets(subnets), parse_days(days, now))
