"""Prove that a zone import loses nothing: every record read is served, as read.

A master file can say things a served zone cannot keep. NSD and BIND load
most of them with a warning, or keep the data and never serve it:

- two TTLs in one RRset (served with one TTL, RFC 2181 §5.2);
- CNAME and other data at one name, or two CNAMEs (RFC 1034 §3.6.2, RFC 2181 §10.1);
- data at or below a delegation that is not glue (answered by referral, RFC 1034 §4.3.2 3b);
- DNAME (homeport does not rewrite the names below it, RFC 6672 §3).

:func:`check_import` refuses the first such record, naming it (the caller
knows its line). Otherwise it builds the zone exactly as the server will
(:func:`homeport.core.zone.build_zone`) and checks that it holds every RRset
read, with its TTL and all its distinct records, and nothing else. Duplicates
are not losses: an RRset is a set (RFC 2181 §5), and they are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from homeport.core import zone as zone_model
from homeport.core.zone import Record, Soa
from homeport.core.zone_render import BAD_DNS_INPUT, ZoneState
from homeport.errors import ConfigError

_CNAME = dns.rdatatype.CNAME
_NS = dns.rdatatype.NS
_DS = dns.rdatatype.DS
# RFC 4035 §2.5: DNSSEC records may sit next to a CNAME.
_BESIDE_CNAME = frozenset({dns.rdatatype.RRSIG, dns.rdatatype.NSEC})
_GLUE = frozenset({dns.rdatatype.A, dns.rdatatype.AAAA})

# (owner wire name, type, RDATA text): one record.
Key = tuple[bytes, int, str]


@dataclass(frozen=True)
class Checked:
    """The import keeps everything: ``served`` distinct records, ``duplicates`` repeats."""

    served: int
    duplicates: int


@dataclass(frozen=True)
class Refused:
    """Record ``index`` would not be served as read; ``other`` is the record it conflicts with."""

    index: int | None  # None: no one record is to blame
    reason: str
    other: int | None = None


def check_import(origin: str, soa: Soa, records: Sequence[Record]) -> Checked | Refused:
    """Whether serving ``records`` (the SOA aside) as zone ``origin`` keeps every one of them.

    ``records`` are a master file's, as :mod:`homeport.server.zonefile` reads them: their
    RDATA in dnspython's canonical presentation form, so equal texts are equal records.
    """
    origin_name = dns.name.from_text(origin)
    types_by_text: dict[str, int] = {}
    seen: set[Key] = set()
    rrsets: dict[tuple[bytes, int], list[int]] = {}  # -> [index of the first, TTL, distinct]
    names: dict[bytes, dict[int, int]] = {}  # owner -> type -> index of the first
    for i, rec in enumerate(records):
        name, wire = zone_model.wire_name(rec.name)
        if not name.is_subdomain(origin_name):
            return Refused(i, f"{rec.name} is outside the zone {origin}")
        rdtype = types_by_text.get(rec.rdtype)
        if rdtype is None:
            try:
                rdtype = types_by_text[rec.rdtype] = dns.rdatatype.from_text(rec.rdtype)
            except BAD_DNS_INPUT:
                return Refused(i, f"unknown record type {rec.rdtype!r}")
        if rdtype == dns.rdatatype.DNAME:
            return Refused(
                i, f"DNAME at {rec.name} is not supported (names below it are not rewritten)"
            )
        key = (wire, rdtype, rec.rdata)
        stats = rrsets.setdefault((wire, rdtype), [i, rec.ttl, 0])
        if rec.ttl != stats[1]:
            return Refused(
                i,
                f"TTL {rec.ttl} differs from {stats[1]} in the same RRset (RFC 2181 §5.2)",
                stats[0],
            )
        types = names.setdefault(wire, {})
        if rdtype not in _BESIDE_CNAME:
            if rdtype == _CNAME and stats[0] != i and key not in seen:
                return Refused(i, f"a second CNAME at {rec.name} (RFC 2181 §10.1)", stats[0])
            others = [
                j
                for t, j in types.items()
                if t not in _BESIDE_CNAME and (t == _CNAME) != (rdtype == _CNAME)
            ]
            if others:
                return Refused(
                    i, f"CNAME and other data at {rec.name} (RFC 1034 §3.6.2)", min(others)
                )
        types.setdefault(rdtype, i)
        if key not in seen:
            seen.add(key)
            stats[2] += 1
    refused = _occluded(records, names, origin_name)
    if refused is not None:
        return refused
    try:
        zone = zone_model.build_zone(origin, soa, records)
    except ConfigError as exc:
        return Refused(_first_bad(records, origin_name), str(exc))
    return _compare(rrsets, zone, len(records) - len(seen))


def _first_bad(records: Sequence[Record], origin: dns.name.Name) -> int:
    """The index of the first record whose data does not parse."""
    for i, rec in enumerate(records):
        try:
            zone_model.parse_rrset(dns.rdatatype.from_text(rec.rdtype), [rec], origin)
        except ConfigError:
            return i
    return len(records) - 1


def _occluded(
    records: Sequence[Record], names: dict[bytes, dict[int, int]], origin: dns.name.Name
) -> Refused | None:
    """The first record hidden by a delegation that is not glue for its name servers."""
    origin_wire = zone_model.wire_name(origin.to_text())[1]
    cuts = {w: t[_NS] for w, t in names.items() if _NS in t and w != origin_wire}
    if not cuts:
        return None
    targets = {zone_model.wire_name(rec.rdata)[1] for rec in records if rec.rdtype.upper() == "NS"}
    for i, rec in enumerate(records):
        _, wire = zone_model.wire_name(rec.name)
        rdtype = dns.rdatatype.from_text(rec.rdtype)
        cut = _cut_above(wire, cuts, origin_wire)
        if cut is None or (cut == wire and rdtype in (_NS, _DS)):
            continue
        if rdtype in _GLUE and wire in targets:
            continue
        where = dns.name.from_wire(cut, 0)[0].to_text()
        return Refused(
            i,
            f"{rec.name} {rec.rdtype} is hidden by the delegation at {where}: only the glue"
            " addresses of name servers are served there (RFC 1034 §4.3.2)",
            cuts[cut],
        )
    return None


def _cut_above(wire: bytes, cuts: dict[bytes, int], origin: bytes) -> bytes | None:
    """The delegation closest to the apex at or above a name, if any."""
    found = None
    pos = 0
    while wire[pos:] != origin and pos < len(wire) - 1:
        if wire[pos:] in cuts:
            found = wire[pos:]
        pos += wire[pos] + 1
    return found


def _compare(
    rrsets: dict[tuple[bytes, int], list[int]], zone: ZoneState, duplicates: int
) -> Checked | Refused:
    """Every RRset read is in the zone, with its TTL and all its distinct records, and no other."""
    served = 0
    for (wire, rdtype), (index, ttl, count) in rrsets.items():
        node = zone.names.get(wire)
        stored = node.rrsets.get(rdtype) if node is not None else None
        if stored is None or stored[0] != ttl or len(stored[1]) != count:
            return Refused(index, "would not be served as read (a homeport bug: please report it)")
        served += count
    held = sum(len(rdatas) for node in zone.names.values() for _, rdatas in node.rrsets.values())
    if held != served:
        return Refused(None, "the zone would hold records the file does not have (a homeport bug)")
    return Checked(served, duplicates)
