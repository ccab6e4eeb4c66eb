"""One zone's names, and the answers they give (RFC 1034 §4.3.2 for our needs).

:func:`entries_for` pre-renders the answers a name gives for each type it has;
:func:`resolve` decides everything else, per query: referrals at zone cuts,
CNAME chains, wildcards (RFC 4592), NODATA and NXDOMAIN (RFC 2308). Names are
lower-case uncompressed wire bytes throughout.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import dns.exception
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset

from homeport.errors import ConfigError
from homeport.proto.dns_answer import (
    AA,
    QR,
    Answer,
    NegativeTemplate,
    label_offsets,
    name_wire,
    render,
    render_wires,
    rrset_from_wires,
)

if TYPE_CHECKING:
    from homeport.core.zone import Soa

# What dnspython raises for input it cannot take: its own exceptions for syntax (bad names,
# malformed rdata text, unknown types) and ValueError for numbers out of range (a serial past
# 32 bits, a negative SOA timer, TYPE65536). Only these mean bad configuration; anything
# else is a bug and keeps its traceback.
BAD_DNS_INPUT = (dns.exception.DNSException, ValueError)

_NS = dns.rdatatype.NS
_CNAME = dns.rdatatype.CNAME
_SOA = dns.rdatatype.SOA
_DS = dns.rdatatype.DS
_ANY = dns.rdatatype.ANY
_GLUE_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
# RFC 8482 §4.1: ANY gets one RRset; these first (small, and what ANY was asked for) ...
_ANY_PREFERRED = frozenset(
    dns.rdatatype.RdataType.make(t) for t in ("A", "AAAA", "SOA", "MX", "PTR")
)
# ... these last (large, and useless without the RRsets they sign).
_ANY_LAST = frozenset(dns.rdatatype.RdataType.make(t) for t in ("DNSKEY", "RRSIG", "NSEC"))
# Longest CNAME chain followed inside a zone; BIND stops at 16, loops stop earlier.
MAX_CNAME_CHAIN = 8
_WILDCARD = b"\x01*"


# An RRset as kept in memory: (TTL, the uncompressed wire form of each RDATA).
# Turned back into dnspython objects only off the hot path; a 100k-name catalog
# measured 84 MB this way against 143 MB holding dnspython RRsets.
Stored = tuple[int, tuple[bytes, ...]]


def rrset(owner: dns.name.Name, rdtype: int, stored: Stored) -> dns.rrset.RRset:
    return rrset_from_wires(owner, rdtype, stored[0], stored[1])


class Node:
    """A name in a zone: its RRsets, and how many names below it have data."""

    __slots__ = ("below", "rrsets")

    def __init__(self) -> None:
        self.rrsets: dict[int, Stored] = {}
        self.below = 0  # > 0 with no rrsets: an empty non-terminal (exists, NODATA)


class ZoneState:
    """One served zone."""

    def __init__(self, origin_name: dns.name.Name, origin: bytes, soa: Soa) -> None:
        self.origin_name = origin_name
        self.origin = origin
        self.soa = soa
        self._soa_rrset = soa_rrset_of(origin_name, soa)
        self.names: dict[bytes, Node] = {}
        self.cuts: frozenset[bytes] = frozenset()  # delegation points below the apex
        self.ns_targets: frozenset[bytes] = frozenset()  # apex NS names inside the zone
        self.negative = NegativeTemplate.build(self.negative_soa())
        self.soa_answer = render(origin_name, _SOA, QR | AA, [self._soa_rrset])

    def set_serial(self, serial: int) -> None:
        """Bump the serial by patching the pre-rendered SOA answer and negative template.

        The serial is the first of the five 32-bit fields that end the SOA RDATA
        (RFC 1035 §3.3.13), and both renderings end with that RDATA.
        """
        self.soa = replace(self.soa, serial=serial)
        packed = struct.pack(">I", serial)
        neg = self.negative
        tail = neg.tail[:-20] + packed + neg.tail[-16:]
        self.negative = NegativeTemplate(neg.nxdomain, neg.nodata, tail)
        headers, body = self.soa_answer
        self.soa_answer = (headers, body[:-20] + packed + body[-16:])

    def soa_rrset(self) -> dns.rrset.RRset:
        if self._soa_rrset[0].serial != self.soa.serial:
            self._soa_rrset = soa_rrset_of(self.origin_name, self.soa)
        return self._soa_rrset

    def negative_soa(self) -> dns.rrset.RRset:
        # RFC 2308 §3: the SOA in a negative answer has TTL min(SOA TTL, SOA MINIMUM).
        ttl = min(self.soa.ttl, self.soa.minimum)
        return dns.rrset.from_rdata_list(self.origin_name, ttl, list(self.soa_rrset()))


def soa_rrset_of(origin: dns.name.Name, soa: Soa) -> dns.rrset.RRset:
    try:
        rdata = dns.rdtypes.ANY.SOA.SOA(  # type: ignore[no-untyped-call]
            dns.rdataclass.IN,
            _SOA,
            dns.name.from_text(soa.mname),
            dns.name.from_text(soa.rname),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum,
        )
    except BAD_DNS_INPUT as exc:
        raise ConfigError(f"bad SOA for {origin}: {exc}") from exc
    return dns.rrset.from_rdata(origin, soa.ttl, rdata)


def _ancestors(zone: ZoneState, wire: bytes) -> list[bytes]:
    """The names strictly between ``wire`` and the zone origin."""
    if wire == zone.origin:
        return []
    out = []
    pos = wire[0] + 1 if wire[0] else len(wire)
    while pos < len(wire) - 1:
        suffix = wire[pos:]
        if suffix == zone.origin:
            break
        out.append(suffix)
        pos += wire[pos] + 1
    return out


def add_ancestors(zone: ZoneState, wire: bytes) -> None:
    for name in _ancestors(zone, wire):
        node = zone.names.get(name)
        if node is None:
            node = zone.names[name] = Node()
        node.below += 1


def set_node(zone: ZoneState, wire: bytes, new: Node) -> None:
    """Put ``new`` at ``wire``, keeping empty non-terminals exact."""
    old = zone.names.get(wire)
    had = old is not None and bool(old.rrsets)
    new.below = old.below if old is not None else 0
    if new.rrsets or new.below or wire == zone.origin:
        zone.names[wire] = new
    else:
        zone.names.pop(wire, None)
    if new.rrsets and not had:
        add_ancestors(zone, wire)
    elif had and not new.rrsets:
        for name in _ancestors(zone, wire):
            node = zone.names.get(name)
            if node is None:
                continue
            node.below -= 1
            if not node.below and not node.rrsets:
                del zone.names[name]


def scan_structure(zone: ZoneState) -> None:
    """Find the zone cuts and the in-zone apex NS names (for glue)."""
    zone.cuts = frozenset(
        wire for wire, node in zone.names.items() if wire != zone.origin and _NS in node.rrsets
    )
    apex = zone.names.get(zone.origin)
    stored = apex.rrsets.get(_NS) if apex is not None else None
    ns = rrset(zone.origin_name, _NS, stored) if stored else ()
    zone.ns_targets = frozenset(
        name_wire(rd.target).lower() for rd in ns if rd.target.is_subdomain(zone.origin_name)
    )


def _under_cut(zone: ZoneState, wire: bytes) -> bool:
    if not zone.cuts:
        return False
    return wire in zone.cuts or any(name in zone.cuts for name in _ancestors(zone, wire))


def _glue(zone: ZoneState, ns: Iterable[dns.rdata.Rdata]) -> list[dns.rrset.RRset]:
    out: list[dns.rrset.RRset] = []
    for rd in ns:
        target = rd.target  # type: ignore[attr-defined]
        if not target.is_subdomain(zone.origin_name):
            continue
        node = zone.names.get(name_wire(target).lower())
        if node is not None:
            out.extend(rrset(target, t, node.rrsets[t]) for t in _GLUE_TYPES if t in node.rrsets)
    return out


def _key(wire: bytes, rdtype: int) -> bytes:
    return wire + struct.pack(">H", rdtype)


def entries_for(zone: ZoneState, wire: bytes, node: Node) -> dict[bytes, Answer]:
    """The pre-rendered answers of one name, one per type it has."""
    if _under_cut(zone, wire):
        return {}  # answered by referral in resolve()
    out = {}
    owner = _name(wire)
    for rdtype, stored in node.rrsets.items():
        if rdtype == _NS and wire == zone.origin:
            ns = rrset(owner, _NS, stored)
            answer = render(owner, rdtype, QR | AA, [ns], (), _glue(zone, ns))
        else:
            answer = render_wires(owner, rdtype, stored[0], stored[1], QR | AA)
        out[_key(wire, rdtype)] = answer
    if wire == zone.origin:
        out.update(soa_entry(zone))
    return out


def soa_entry(zone: ZoneState) -> dict[bytes, Answer]:
    return {_key(zone.origin, _SOA): zone.soa_answer}


def apex_ns_entry(zone: ZoneState) -> dict[bytes, Answer]:
    stored = zone.names[zone.origin].rrsets.get(_NS)
    if stored is None:
        return {}
    ns = rrset(zone.origin_name, _NS, stored)
    return {_key(zone.origin, _NS): render(ns.name, _NS, QR | AA, [ns], (), _glue(zone, ns))}


def resolve(zone: ZoneState, name: bytes, offsets: list[int], zone_off: int, qtype: int) -> Answer:
    """Answer a (name, type) that has no pre-rendered answer; ``zone_off`` = origin's offset."""
    names = zone.names
    if zone.cuts:
        # RFC 1034 §4.3.2 step 3b: the cut closest to the apex wins; DS belongs to the parent.
        for off in reversed([o for o in offsets if o < zone_off]):
            if name[off:] in zone.cuts and not (off == 0 and qtype == _DS):
                return _referral(zone, name, name[off:], qtype)
    node = names.get(name)
    if node is not None:
        return _at_node(zone, _name(name), node, qtype, zone_off, name == zone.origin)
    star = _wildcard(zone, name, offsets, zone_off)
    if star is not None:
        # RFC 4592 §3.3.1: the star's RRsets, owned by the question name
        return _at_node(zone, _name(name), star, qtype, zone_off)
    return zone.negative.answer(zone_off, nxdomain=True)


def _wildcard(zone: ZoneState, name: bytes, offsets: list[int], zone_off: int) -> Node | None:
    """RFC 4592 §4.1: the closest encloser's "*" child answers for a name that does not exist."""
    names = zone.names
    ancestors = [o for o in offsets[1:] if o <= zone_off]
    if zone_off not in ancestors:
        ancestors.append(zone_off)
    for off in ancestors:
        encloser = name[off:]
        if off == zone_off or encloser in names:
            return names.get(_WILDCARD + encloser)
    return None


def _cut_at_or_above(zone: ZoneState, wire: bytes) -> bytes | None:
    """The zone cut closest to the apex at or above an in-zone name (RFC 1034 §4.3.2 step 3b)."""
    if not zone.cuts:
        return None
    for name in reversed([wire, *_ancestors(zone, wire)]):
        if name in zone.cuts:
            return name
    return None


def _name(wire: bytes) -> dns.name.Name:
    return dns.name.from_wire(wire, 0)[0]


def _at_node(
    zone: ZoneState,
    qname: dns.name.Name,
    node: Node,
    qtype: int,
    zone_off: int,
    apex: bool = False,
) -> Answer:
    stored = node.rrsets
    if qtype == _ANY:
        if apex:  # see _any_choice
            return render(qname, qtype, QR | AA, [zone.soa_rrset()])
        chosen = _any_choice(stored)
        if chosen is not None:
            return render(qname, qtype, QR | AA, [rrset(qname, chosen, stored[chosen])])
    elif qtype in stored:
        answer = rrset(qname, qtype, stored[qtype])
        additional = _glue(zone, answer) if apex and qtype == _NS else []
        return render(qname, qtype, QR | AA, [answer], (), additional)
    elif apex and qtype == _SOA:
        return render(qname, qtype, QR | AA, [zone.soa_rrset()])
    elif _CNAME in stored:
        return _chase(zone, qname, qtype, rrset(qname, _CNAME, stored[_CNAME]))
    return zone.negative.answer(zone_off, nxdomain=False)


def _any_choice(stored: dict[int, Stored]) -> int | None:
    """The one RRset an ANY query gets (RFC 8482 §4.1), chosen as NSD chooses it.

    The first address, MX or PTR RRset of the name (what ANY queries were sent
    for), else its last other RRset, DNSSEC records last of all. At a zone
    apex the caller answers the SOA, the RRset that comes first in a zone
    (RFC 1035 §5.2) and NSD's choice there.
    """
    normal = dnssec = None
    for rdtype in stored:
        if rdtype in _ANY_PREFERRED:
            return rdtype
        if rdtype in _ANY_LAST:
            dnssec = rdtype
        else:
            normal = rdtype
    return normal if normal is not None else dnssec


def _chase(zone: ZoneState, qname: dns.name.Name, qtype: int, cname: dns.rrset.RRset) -> Answer:
    """RFC 1034 §4.3.2 step 3a: answer the CNAME and follow it while it stays in the zone.

    Each target is looked up as a query for it would be (step 3 again): a
    referral at a zone cut, the target's own RRset (the apex SOA included) or a
    wildcard's, another CNAME, or a negative answer.
    """
    answer = [cname]
    authority: list[dns.rrset.RRset] = []
    additional: list[dns.rrset.RRset] = []
    rcode = dns.rcode.NOERROR
    seen = {qname}
    target = cname[0].target
    for _ in range(MAX_CNAME_CHAIN):
        if target in seen or not target.is_subdomain(zone.origin_name):
            break  # a loop, or another zone: the client follows from here
        wire = name_wire(target).lower()
        cut = _cut_at_or_above(zone, wire)
        if cut is not None and not (cut == wire and qtype == _DS):
            ns = rrset(_name(cut), _NS, zone.names[cut].rrsets[_NS])
            authority, additional = [ns], _glue(zone, ns)
            break
        node = zone.names.get(wire)
        if node is None:
            offsets = label_offsets(wire) or []
            node = _wildcard(zone, wire, offsets, len(wire) - len(zone.origin))
        if node is None:
            # RFC 6604 §3: the RCODE describes the last name in the chain.
            rcode = dns.rcode.NXDOMAIN
            authority = [zone.negative_soa()]
            break
        apex = wire == zone.origin
        if qtype in node.rrsets:
            answer.append(rrset(target, qtype, node.rrsets[qtype]))
            if apex and qtype == _NS:
                additional = _glue(zone, answer[-1])
            break
        if apex and qtype == _SOA:
            answer.append(zone.soa_rrset())
            break
        if _CNAME not in node.rrsets:
            authority = [zone.negative_soa()]
            break
        seen.add(target)
        answer.append(rrset(target, _CNAME, node.rrsets[_CNAME]))
        target = answer[-1][0].target
    return render(qname, qtype, QR | AA | rcode, answer, authority, additional)


def _referral(zone: ZoneState, name: bytes, cut: bytes, qtype: int) -> Answer:
    """RFC 1034 §4.3.2 step 3b: not authoritative; the cut's NS and their glue."""
    ns = rrset(_name(cut), _NS, zone.names[cut].rrsets[_NS])
    return render(_name(name), qtype, QR, [], [ns], _glue(zone, ns))
