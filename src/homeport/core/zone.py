"""The zones the server answers for, and the catalog that serves them.

:class:`Catalog` keeps one dict of pre-rendered answers keyed by
``lower-case wire name + 2-byte qtype`` for every served (name, type); a query
that hits it costs one dict lookup (see :mod:`homeport.proto.dns_answer`).
Misses go to :meth:`Catalog._resolve`, which applies RFC 1034 §4.3.2 as far as a
dynamic-DNS server needs: most specific zone, referral at a zone cut, CNAME,
wildcard (RFC 4592), NODATA vs NXDOMAIN with the zone's SOA (RFC 2308).

Concurrency: the catalog is changed from one thread at a time (the event
loop) while another thread may answer queries. Every change builds its new
values first and then swaps single dict entries or attributes, which the GIL
makes atomic; a query sees the name either before or after a change. After
each change the UDP packet cache is replaced (:meth:`Catalog.packet_cache`).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset

from homeport.core import xfr_journal, zone_render
from homeport.core.zone_render import BAD_DNS_INPUT, Node, Stored, ZoneState
from homeport.errors import ConfigError, NotFoundError
from homeport.proto import dns_answer
from homeport.proto.dns_answer import Answer

_NS = dns.rdatatype.NS
# Addresses are most of a dynamic-DNS zone: dnspython's constructors validate
# them without a tokenizer (5x faster than rdata.from_text).
_DIRECT: dict[int, type[dns.rdata.Rdata]] = {
    dns.rdatatype.A: dns.rdtypes.IN.A.A,
    dns.rdatatype.AAAA: dns.rdtypes.IN.AAAA.AAAA,
}


@dataclass(frozen=True)
class Record:
    """One resource record; names absolute, lower case, with the trailing dot."""

    name: str
    rdtype: str
    ttl: int
    rdata: str  # presentation format, as in a master file


@dataclass(frozen=True)
class Soa:
    """A zone's SOA values (RFC 1035 §3.3.13); ``minimum`` is the negative TTL (RFC 2308)."""

    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int
    ttl: int


@dataclass(frozen=True)
class PreparedName:
    """A name's parsed records, ready for :meth:`Catalog.apply_name` (used once)."""

    origin: str
    wire: bytes
    node: Node


@functools.lru_cache(maxsize=4096)  # replace_name sees the same few names again and again
def wire_name(name: str) -> tuple[dns.name.Name, bytes]:
    try:
        parsed = dns.name.from_text(name)
    except BAD_DNS_INPUT as exc:
        raise ConfigError(f"not a DNS name: {name!r} ({exc})") from exc
    return parsed, dns_answer.name_wire(parsed).lower()


def record_problem(origin: str, record: Record) -> str | None:
    """Why ``record`` cannot be served in zone ``origin`` (None: it can).

    The same parse :meth:`Catalog.load_zone` applies, one record at a time: for
    admin input before it is stored, and to skip (not refuse) a bad stored row.
    """
    try:
        _group(wire_name(origin)[0], [record])
    except ConfigError as exc:
        return str(exc)
    return None


def _group(origin_name: dns.name.Name, records: Iterable[Record]) -> dict[bytes, Node]:
    """Parse records into nodes keyed by wire name; errors name the record."""
    groups: dict[tuple[bytes, dns.rdatatype.RdataType], list[Record]] = {}
    for rec in records:
        name, wire = wire_name(rec.name)
        if not name.is_subdomain(origin_name):
            raise ConfigError(f"{rec.name} is not in zone {origin_name}")
        try:
            rdtype = dns.rdatatype.from_text(rec.rdtype)
        except BAD_DNS_INPUT as exc:
            raise ConfigError(f"unknown record type {rec.rdtype!r} at {rec.name}") from exc
        if rdtype == dns.rdatatype.SOA or dns.rdatatype.is_metatype(rdtype):
            raise ConfigError(f"{rec.rdtype} cannot be given as a record ({rec.name})")
        groups.setdefault((wire, rdtype), []).append(rec)
    nodes: dict[bytes, Node] = {}
    for (wire, rdtype), recs in groups.items():
        node = nodes.get(wire)
        if node is None:
            node = nodes[wire] = Node()
        node.rrsets[rdtype] = parse_rrset(rdtype, recs, origin_name)
    return nodes


def parse_rrset(
    rdtype: dns.rdatatype.RdataType, recs: list[Record], origin: dns.name.Name
) -> Stored:
    """Parse one RRset's records (dnspython validates) into its compact stored form."""
    # RFC 2181 §5.2: one TTL per RRset; differing TTLs are served as the lowest.
    ttl = min(rec.ttl for rec in recs)
    if not 0 <= ttl < 2**31:  # RFC 2181 §8
        raise ConfigError(f"bad TTL {ttl} at {recs[0].name}")
    direct = _DIRECT.get(rdtype)
    wires: dict[bytes, None] = {}  # an RRset is a set: duplicates go, order stays
    for rec in recs:
        try:
            if direct is not None:
                rdata = direct(dns.rdataclass.IN, rdtype, rec.rdata.strip())  # type: ignore[call-arg]
            else:
                rdata = dns.rdata.from_text(
                    dns.rdataclass.IN, rdtype, rec.rdata, origin, relativize=False
                )
            wire = rdata.to_wire()
        except BAD_DNS_INPUT as exc:
            raise ConfigError(
                f"bad {rec.rdtype} data at {rec.name}: {rec.rdata!r} ({exc})"
            ) from exc
        assert wire is not None
        wires[wire] = None
    return ttl, tuple(wires)


def build_zone(origin: str, soa: Soa, records: Iterable[Record]) -> ZoneState:
    """One zone's names and structure, built from its records (``records`` exclude the SOA)."""
    _check_serial(soa.serial)
    origin_name, origin_wire = wire_name(origin)
    zone = ZoneState(origin_name, origin_wire, soa)
    nodes = _group(origin_name, records)
    nodes.setdefault(origin_wire, Node())
    # Every name with data first, then the counts of its ancestors: a file may
    # define a name after its descendants, and the empty node add_ancestors
    # makes for it must never stand in for its records.
    zone.names.update(nodes)
    for wire, node in nodes.items():
        if node.rrsets:
            zone_render.add_ancestors(zone, wire)
    zone_render.scan_structure(zone)
    return zone


class Catalog:
    """The served zones and their pre-rendered answers (the interface the server uses)."""

    def __init__(self) -> None:
        self._zones: dict[bytes, ZoneState] = {}
        self._answers: dict[bytes, Answer] = {}
        self._resolve_cb = self._resolve
        self._packet_cache: dict[bytes, bytes] = {}
        # Zone diffs for IXFR (RFC 1995); None: no transfers, nothing recorded.
        self.journal: xfr_journal.Journal | None = None
        # Answers TSIG-signed queries (secondaries' SOA checks); set before serving.
        self.signed: dns_answer.Signed | None = None

    # --- changes (event-loop thread) ---

    def load_zone(self, origin: str, soa: Soa, records: Iterable[Record]) -> None:
        """Add or replace a whole zone; ``records`` exclude the SOA."""
        zone = build_zone(origin, soa, records)
        origin_wire = zone.origin
        old = self._zones.get(origin_wire)
        if old is not None:
            self._withdraw(old)
        self._zones[origin_wire] = zone
        self._withdraw_ancestors_below(origin_wire)
        self._publish_zone(zone)
        self._changed()
        if self.journal is not None:
            self.journal.reset(origin_wire)

    def drop_zone(self, origin: str) -> None:
        """Stop serving a zone; a parent zone's names below it are served again."""
        _, origin_wire = wire_name(origin)
        zone = self._zones.get(origin_wire)
        if zone is None:
            raise NotFoundError(f"zone {origin} is not served")
        self._withdraw(zone)
        del self._zones[origin_wire]
        for other in list(self._zones.values()):
            if _is_below(origin_wire, other.origin):
                self._publish_zone(other, below=origin_wire)
        self._changed()
        if self.journal is not None:
            self.journal.reset(origin_wire)

    def replace_name(self, origin: str, name: str, records: Iterable[Record], serial: int) -> None:
        """Replace every RRset at ``name`` (none = the name goes) and set the SOA serial."""
        self.apply_name(self.prepare_name(origin, name, records), serial)

    def prepare_name(self, origin: str, name: str, records: Iterable[Record]) -> PreparedName:
        """Parse the records :meth:`apply_name` will put at ``name``; changes nothing.

        Every way the records can be refused (ConfigError, NotFoundError) is raised
        here, so a caller can check an update renders before it makes it durable.
        """
        zone = self._zone(origin)
        name_obj, wire = wire_name(name)
        if not name_obj.is_subdomain(zone.origin_name):
            raise ConfigError(f"{name} is not in zone {zone.origin_name}")
        recs = list(records)
        if any(wire_name(rec.name)[1] != wire for rec in recs):
            raise ConfigError(f"replace_name({name}) got records of another name")
        return PreparedName(origin, wire, _group(zone.origin_name, recs).get(wire) or Node())

    def apply_name(self, prepared: PreparedName, serial: int) -> None:
        """Serve what :meth:`prepare_name` parsed (once) and set the SOA serial."""
        zone = self._zone(prepared.origin)
        _check_serial(serial)
        old = zone.names.get(prepared.wire)
        old_rrs = xfr_journal.node_rrs(prepared.wire, old.rrsets) if old is not None else []
        old_serial = zone.soa.serial
        try:
            self._replace_node(zone, prepared.wire, prepared.node, serial)
        finally:
            self._changed()
        if self.journal is not None:
            new_rrs = xfr_journal.node_rrs(prepared.wire, prepared.node.rrsets)
            removed, added = xfr_journal.diff(old_rrs, new_rrs)
            self.journal.record(zone.origin, old_serial, serial, removed, added)

    def _replace_node(self, zone: ZoneState, wire: bytes, new: Node, serial: int) -> None:
        old = zone.names.get(wire)
        old_types = set(old.rrsets) if old is not None else set()
        cut_change = wire != zone.origin and (_NS in old_types) != (_NS in new.rrsets)
        zone_render.set_node(zone, wire, new)
        self._set_serial(zone, serial)
        if cut_change or wire == zone.origin:
            zone_render.scan_structure(zone)
        if cut_change:
            self._withdraw(zone)  # rare: a delegation appeared or went; redo the zone
            self._publish_zone(zone)
            return
        if self._owner(wire) is zone:
            entries = zone_render.entries_for(zone, wire, new) if new.rrsets else {}
            self._answers.update(entries)
            for rdtype in old_types - set(new.rrsets):
                self._answers.pop(wire + struct.pack(">H", rdtype), None)
        if wire in zone.ns_targets and self._owner(zone.origin) is zone:
            self._answers.update(zone_render.apex_ns_entry(zone))

    def set_serial(self, origin: str, serial: int) -> None:
        """Set a zone's SOA serial without changing any name."""
        zone = self._zone(origin)
        _check_serial(serial)
        old_serial = zone.soa.serial
        self._set_serial(zone, serial)
        self._changed()
        if self.journal is not None:
            self.journal.record(zone.origin, old_serial, serial, [], [])

    # --- reads ---

    def zones(self) -> list[str]:
        return sorted(z.origin_name.to_text() for z in self._zones.values())

    def serial(self, origin: str) -> int:
        return self._zone(origin).soa.serial

    def zone_state(self, origin_wire: bytes) -> ZoneState | None:
        """The served zone at this origin (lower-case wire name), for zone transfers."""
        return self._zones.get(origin_wire)

    def rdata_at(self, origin: str, name: str) -> dict[int, frozenset[bytes]]:
        """What zone ``origin`` holds at ``name``: rdtype -> rdata wires (not the SOA)."""
        node = self._zone(origin).names.get(wire_name(name)[1])
        if node is None:
            return {}
        return {rdtype: frozenset(wires) for rdtype, (_, wires) in node.rrsets.items() if wires}

    def respond(self, query: bytes, *, tcp: bool) -> bytes | None:
        """The response to a DNS query message; None means drop it."""
        return dns_answer.respond(query, tcp, self._answers, self._resolve_cb, self.signed)

    def packet_cache(self) -> dict[bytes, bytes]:
        """A dict a UDP listener may fill with query[2:] -> response[2:].

        Every change to the catalog replaces it (after the change is complete),
        so entries computed from older answers are never read again.
        """
        return self._packet_cache

    def _changed(self) -> None:
        self._packet_cache = {}

    def udp_responder(self) -> Callable[[bytes], bytes | None]:
        """``respond(query, tcp=False)`` as a one-argument function, for the UDP hot loop."""
        return functools.partial(
            dns_answer.respond_to, self._answers, self._resolve_cb, False, self.signed
        )

    # --- internals ---

    def _zone(self, origin: str) -> ZoneState:
        zone = self._zones.get(wire_name(origin)[1])
        if zone is None:
            raise NotFoundError(f"zone {origin} is not served")
        return zone

    def _owner(self, wire: bytes) -> ZoneState | None:
        """The most specific served zone containing the wire name."""
        offsets = dns_answer.label_offsets(wire)
        for off in [*(offsets or ()), len(wire) - 1]:
            zone = self._zones.get(wire[off:])
            if zone is not None:
                return zone
        return None

    def _set_serial(self, zone: ZoneState, serial: int) -> None:
        zone.set_serial(serial)
        if self._owner(zone.origin) is zone:
            self._answers.update(zone_render.soa_entry(zone))

    def _publish_zone(self, zone: ZoneState, below: bytes | None = None) -> None:
        """Render and publish the names this zone owns (optionally only those below a name)."""
        entries: dict[bytes, Answer] = {}
        nested = any(o != zone.origin and _is_below(o, zone.origin) for o in self._zones)
        for wire, node in zone.names.items():
            if not node.rrsets or (below is not None and not _is_below(wire, below)):
                continue
            if nested and self._owner(wire) is not zone:
                continue
            entries.update(zone_render.entries_for(zone, wire, node))
        in_scope = below is None or _is_below(zone.origin, below)
        if in_scope and self._owner(zone.origin) is zone:
            entries.update(zone_render.soa_entry(zone))
        self._answers.update(entries)

    def _withdraw(self, zone: ZoneState) -> None:
        """Remove the answers this zone published."""
        for wire, node in zone.names.items():
            if self._owner(wire) is not zone:
                continue
            for rdtype in node.rrsets:
                self._answers.pop(wire + struct.pack(">H", rdtype), None)
        self._answers.pop(zone.origin + struct.pack(">H", dns.rdatatype.SOA), None)

    def _withdraw_ancestors_below(self, origin: bytes) -> None:
        """A new zone takes over names a parent zone served below its origin."""
        for other in self._zones.values():
            if other.origin == origin or not _is_below(origin, other.origin):
                continue
            for wire, node in other.names.items():
                if _is_below(wire, origin):
                    for rdtype in node.rrsets:
                        key = wire + struct.pack(">H", rdtype)
                        self._answers.pop(key, None)

    def _resolve(self, name: bytes, offsets: list[int], qtype: int) -> Answer | None:
        zones = self._zones
        for off in offsets:
            zone = zones.get(name[off:])
            if zone is not None:
                return zone_render.resolve(zone, name, offsets, off, qtype)
        zone = zones.get(b"\x00")  # the root zone, if anyone serves it
        if zone is not None:
            return zone_render.resolve(zone, name, offsets, len(name) - 1, qtype)
        return None


def _check_serial(serial: int) -> None:
    if not 0 <= serial < 2**32:  # RFC 1982: an unsigned 32-bit number
        raise ConfigError(f"SOA serial {serial} is not a 32-bit unsigned number")


def _is_below(wire: bytes, origin: bytes) -> bool:
    """Whether a wire name is at or below another, on label boundaries."""
    if wire == origin or origin == b"\x00":
        return True
    offsets = dns_answer.label_offsets(wire) or ()
    return any(wire[off:] == origin for off in offsets)
