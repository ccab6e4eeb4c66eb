"""RFC 2136 UPDATE, decided: which changes a host's key may make, and its prerequisites.

The policy (README, "ACME DNS-01 challenges"): a key may add and delete TXT records at
``_acme-challenge.<its host>`` and ``_acme-challenge.<sub>.<its host>``, nothing
else. :func:`decide` applies RFC 2136 §3.1 (zone section), §3.4.1 (prescan) and
§3.3 (permission: our policy) to a parsed UPDATE and gives either an RCODE or
the challenge operations plus the prerequisites; :func:`prerequisites_rcode`
applies §3.2 to what the zone serves at the moment the change is made.

Permission is checked before the prerequisites (RFC 2136 orders them the other way):
a key gets no answer about names it may not touch; the RCODE it gets is REFUSED either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import dns.update

from homeport.core import challenge

# rdtype -> rdata wires at a name, as the zone serves them (the SOA is not included).
NameData = Mapping[int, frozenset[bytes]]
Lookup = Callable[[dns.name.Name], NameData]


@dataclass(frozen=True)
class Op:
    """One challenge change: add/delete ``value`` (None: every value) at ``name``."""

    name: str  # absolute, lower case
    value: str | None
    add: bool


@dataclass(frozen=True)
class Decision:
    rcode: int  # 0: permitted; the ops are to be made if the prerequisites hold
    reason: str
    zone: str = ""
    ops: tuple[Op, ...] = ()
    prerequisites: tuple[dns.rrset.RRset, ...] = ()


def _refuse(rcode: int, reason: str) -> Decision:
    return Decision(rcode, reason)


def _class_of(rrset: dns.rrset.RRset) -> int:
    """An UPDATE record's class: ANY or NONE for deletes and existence prerequisites.

    dnspython keeps it in ``deleting`` (the rrset's class then being the zone's) for
    messages read from the wire, in ``rdclass`` for some it builds itself.
    """
    return int(rrset.deleting) if rrset.deleting is not None else int(rrset.rdclass)


_META = (dns.rdataclass.ANY, dns.rdataclass.NONE)


def _txt_value(rdata: object) -> str | None:
    # An ACME value is one character-string (RFC 8555 §8.4); several are refused, not joined.
    if not isinstance(rdata, dns.rdtypes.ANY.TXT.TXT) or len(rdata.strings) != 1:
        return None
    try:
        value = b"".join(rdata.strings).decode("ascii")
    except UnicodeDecodeError:
        return None
    return value if challenge.value_problem(value) is None else None


def decide(
    msg: dns.update.UpdateMessage,
    zones: Iterable[str],
    key_host: str,
    hosts: Iterable[str],
) -> Decision:
    """What ``msg``, signed by ``key_host``'s key, may do (zones, hosts: absolute, lower case)."""
    # §3.1.1: exactly one zone, type SOA, class IN here; a zone we serve (else NOTAUTH).
    if len(msg.zone) != 1 or msg.zone[0].rdtype != dns.rdatatype.SOA:
        return _refuse(dns.rcode.FORMERR, "the zone section must hold one SOA question")
    zone_rrset = msg.zone[0]
    if zone_rrset.rdclass != dns.rdataclass.IN:
        return _refuse(dns.rcode.NOTAUTH, "class other than IN")
    zone = zone_rrset.name.to_text().lower()
    if zone not in set(zones):
        return _refuse(dns.rcode.NOTAUTH, f"not authoritative for {zone}")
    zone_name = zone_rrset.name
    # dnspython reads class ANY/NONE records of UPDATE sections as the zone's class with
    # ``deleting`` set to ANY/NONE, and refuses data in them (FORMERR, §2.4 and §2.5).
    for rrset in msg.prerequisite:
        if not rrset.name.is_subdomain(zone_name):
            return _refuse(dns.rcode.NOTZONE, "a prerequisite is outside the zone")
        if rrset.ttl != 0:
            return _refuse(dns.rcode.FORMERR, "a prerequisite has a TTL")  # §3.2.1
        if _class_of(rrset) not in (dns.rdataclass.IN, *_META):
            return _refuse(dns.rcode.FORMERR, "a prerequisite of another class")
        if _class_of(rrset) in _META and len(rrset):
            return _refuse(dns.rcode.FORMERR, "a prerequisite of class ANY/NONE has data")
    known = {h.lower() for h in hosts}
    ops: list[Op] = []
    for rrset in msg.update:
        name = rrset.name.to_text().lower()
        # §3.4.1.1-2: the prescan (FORMERR / NOTZONE) before permission.
        if not rrset.name.is_subdomain(zone_name):
            return _refuse(dns.rcode.NOTZONE, f"{name} is outside the zone")
        rdtype = rrset.rdtype
        rdclass = _class_of(rrset)
        if rdclass not in (dns.rdataclass.IN, *_META):
            return _refuse(dns.rcode.FORMERR, "an update of another class")
        if rdclass == dns.rdataclass.ANY and len(rrset):
            return _refuse(dns.rcode.FORMERR, "a delete of class ANY has data")
        if rdclass == dns.rdataclass.IN:
            if dns.rdatatype.is_metatype(rdtype) or rdtype == dns.rdatatype.ANY:
                return _refuse(dns.rcode.FORMERR, "a meta type cannot be added")
        elif rrset.ttl != 0:
            return _refuse(dns.rcode.FORMERR, "a delete has a TTL")
        # §3.3: permission. Only TXT (or "every RRset", read as every challenge value)
        # at this host's challenge names.
        owner = challenge.owner_host(name, known)
        if owner != key_host:
            return _refuse(dns.rcode.REFUSED, f"{name} is not this key's challenge name")
        if rdtype not in (dns.rdatatype.TXT,) and not (
            rdclass == dns.rdataclass.ANY and rdtype == dns.rdatatype.ANY
        ):
            return _refuse(
                dns.rcode.REFUSED, f"{dns.rdatatype.to_text(rdtype)} at {name}: TXT only"
            )
        if rdclass == dns.rdataclass.ANY:
            ops.append(Op(name, None, add=False))
            continue
        for rdata in rrset:
            value = _txt_value(rdata)
            if value is None:
                return _refuse(dns.rcode.REFUSED, f"a TXT value at {name} is no ACME value")
            ops.append(Op(name, value, add=rdclass == dns.rdataclass.IN))
    return Decision(0, "", zone, tuple(ops), tuple(msg.prerequisite))


def prerequisites_rcode(prerequisites: Iterable[dns.rrset.RRset], lookup: Lookup) -> int:
    """RFC 2136 §3.2.5: the first unmet prerequisite's RCODE, 0 if all hold."""
    wanted: dict[tuple[dns.name.Name, int], set[bytes]] = {}
    for rrset in prerequisites:
        data = lookup(rrset.name)
        rdtype = rrset.rdtype
        if _class_of(rrset) == dns.rdataclass.ANY:
            if rdtype == dns.rdatatype.ANY:
                if not data:
                    return dns.rcode.NXDOMAIN  # name is in use: not so
            elif not data.get(rdtype):
                return dns.rcode.NXRRSET  # RRset exists: not so
        elif _class_of(rrset) == dns.rdataclass.NONE:
            if rdtype == dns.rdatatype.ANY:
                if data:
                    return dns.rcode.YXDOMAIN  # name is not in use: it is
            elif data.get(rdtype):
                return dns.rcode.YXRRSET  # RRset does not exist: it does
        else:
            wires = wanted.setdefault((rrset.name, rdtype), set())
            for rdata in rrset:
                wire = rdata.to_wire()
                assert wire is not None
                wires.add(wire)
    # §3.2.3: value-dependent prerequisites compare whole RRsets.
    for (name, wanted_type), wires in wanted.items():
        if set(lookup(name).get(wanted_type, frozenset())) != wires:
            return dns.rcode.NXRRSET
    return 0
