"""Deciding the public address from several sources' answers (k of n).

Every source answers an address or fails. An address that cannot be a home
network's public address (unspecified, loopback, link-local, multicast, RFC 1918,
CGNAT 100.64.0.0/10, fc00::/7, ...) counts as a failure of its source unless
``allow_private``: publishing it would point the name at nothing (inadyn once
published a CGNAT address that way). Documentation ranges are accepted so test
networks work.

The verdict is an address only if exactly one address reached ``require`` votes.
Otherwise nothing is published and the reason says who answered what: a
disagreement is reported, never guessed, and there is no silent fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Literal

Address = IPv4Address | IPv6Address

# Ranges a test network uses (RFC 5737 TEST-NET-1/2/3, RFC 3849): allowed although
# not globally routable, so the lab and the tests can publish them.
DOCUMENTATION = tuple(
    ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
# CGNAT shared space (RFC 6598): an address from here means carrier-grade NAT, not a public IP.
CGNAT = IPv4Network("100.64.0.0/10")
ULA = IPv6Network("fc00::/7")  # RFC 4193 unique local addresses


@dataclass(frozen=True)
class Answer:
    """One source's answer: an address, or why it has none."""

    source: str
    address: Address | None = None
    error: str = ""


@dataclass(frozen=True)
class Verdict:
    """The consensus for one family; ``address`` is None when nothing may be published."""

    family: Literal[4, 6]
    address: Address | None
    reason: str
    answers: tuple[Answer, ...]
    agreeing: tuple[str, ...] = ()
    dissenting: tuple[str, ...] = ()


def unusable_reason(address: Address, *, allow_private: bool = False) -> str:
    """Why ``address`` cannot be a public address of a home network, or "" if it can."""
    if any(address in net for net in DOCUMENTATION):
        return ""
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if allow_private:
        return ""
    if isinstance(address, IPv4Address) and address in CGNAT:
        return "carrier-grade NAT address (100.64.0.0/10)"
    if isinstance(address, IPv6Address) and address in ULA:
        return "unique local address (fc00::/7)"
    if address.is_private:
        return "private address"
    if not address.is_global:
        return "not a globally routable address"
    return ""


def decide(
    family: Literal[4, 6],
    answers: Sequence[Answer],
    *,
    require: int,
    allow_private: bool = False,
) -> Verdict:
    """The k-of-n verdict for ``family`` from the sources' ``answers``."""
    checked: list[Answer] = []
    for answer in answers:
        if answer.address is not None:
            if answer.address.version != family:
                answer = Answer(answer.source, None, f"answered an IPv{answer.address.version}")
            else:
                why = unusable_reason(answer.address, allow_private=allow_private)
                if why:
                    answer = Answer(answer.source, None, f"rejected {answer.address}: {why}")
        checked.append(answer)
    votes: dict[Address, list[str]] = {}
    for answer in checked:
        if answer.address is not None:
            votes.setdefault(answer.address, []).append(answer.source)
    result = tuple(checked)
    if not votes:
        failures = "; ".join(f"{a.source}: {a.error}" for a in checked)
        why = f"no source found an IPv{family} address ({failures or 'no sources'})"
        return Verdict(family, None, why, result)
    winners = [address for address, names in votes.items() if len(names) >= require]
    summary = "; ".join(f"{addr} from {', '.join(names)}" for addr, names in votes.items())
    if len(winners) != 1:
        if len(votes) > 1:
            why = f"sources disagree ({summary}); {require} must agree"
        else:
            why = f"only {summary}; {require} must agree"
        return Verdict(family, None, why, result)
    address = winners[0]
    agreeing = tuple(votes[address])
    dissenting = tuple(a.source for a in checked if a.address is not None and a.address != address)
    reason = f"{len(agreeing)} of {len(checked)} sources agree"
    if dissenting:
        reason += f"; ignored {', '.join(dissenting)} (disagreed)"
    return Verdict(family, address, reason, result, agreeing, dissenting)


def default_require(count: int) -> int:
    """A strict majority of the configured sources (1 of 1, 2 of 2, 2 of 3, 3 of 4)."""
    return count // 2 + 1
