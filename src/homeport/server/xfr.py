"""The hidden primary: zone transfers, NOTIFY and the catalog zone, wired to the catalog.

- :class:`Transfers` answers AXFR/IXFR over TCP to the configured secondaries'
  TSIG keys only (a zone is never handed to whoever asks: RFC 5936 §5); IXFR
  from the catalog's journal (:mod:`homeport.core.xfr_journal`), AXFR when the
  journal does not reach back to the asked serial.
- :class:`Notifier` sends NOTIFY to every secondary after a change, one in
  flight per (zone, secondary): changes made while one is out are coalesced
  into the next.
- the catalog zone (RFC 9432, version 2) lists every served zone, so BIND and
  Knot follow new zones without a change to their configuration.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import logging
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig

from homeport.core.xfr_journal import Journal, Step
from homeport.core.zone import Catalog, Record, Soa, wire_name
from homeport.core.zone_render import ZoneState
from homeport.errors import ConfigError
from homeport.io.notify import send_notify
from homeport.proto import xfr
from homeport.proto.dns_answer import EDNS_PAYLOAD, MAX_TCP_SIZE, MIN_UDP_SIZE
from homeport.server.store import SecondaryRow, Store
from homeport.server.tsigkeys import Keyring

log = logging.getLogger(__name__)

# RFC 9432 §4.1: the catalog's name is the operator's choice; ".invalid"
# (RFC 6761 §6.4) can never collide with a real zone or be resolved.
DEFAULT_CATALOG_ZONE = "catalog.homeport.invalid."
# RFC 9432 §4.2.1 asks for a single NS record with target "invalid.".
_CATALOG_NS = "invalid."
# RFC 9432 §4.2.2: schema version 2.
_CATALOG_VERSION = '"2"'
# The catalog's SOA timers: secondaries learn of changes by NOTIFY; refresh is
# the safety net (BIND's default for its own zones is one hour).
_CATALOG_SOA = Soa("invalid.", "invalid.", 1, 3600, 600, 86400 * 14, 0, 0)
# TSIG algorithms the secondaries support (RFC 8945 §6: HMAC-SHA256 mandatory).
ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha1")

_AXFR = dns.rdatatype.AXFR
_IXFR = dns.rdatatype.IXFR


def key_name(secondary: str) -> dns.name.Name:
    """The TSIG key name of a secondary (its name, absolute)."""
    return dns.name.from_text(secondary)


def keyring_of(rows: list[SecondaryRow]) -> dict[dns.name.Name, dns.tsig.Key]:
    ring = {}
    for row in rows:
        name = key_name(row.name)
        ring[name] = dns.tsig.Key(name, base64.b64decode(row.secret), row.algorithm)
    return ring


def member_id(origin: str) -> str:
    """RFC 9432 §4.3: a unique, stable member label; a hash of the zone's name."""
    return hashlib.sha256(origin.lower().encode()).hexdigest()[:16]


def catalog_records(catalog_origin: str, zones: list[str]) -> list[Record]:
    """The catalog zone's records (less its SOA): NS, version, one PTR per member."""
    records = [
        Record(catalog_origin, "NS", 0, _CATALOG_NS),
        Record("version." + catalog_origin, "TXT", 0, _CATALOG_VERSION),
    ]
    for origin in zones:
        owner = f"{member_id(origin)}.zones.{catalog_origin}"
        records.append(Record(owner, "PTR", 0, origin))
    return records


def _question(query: bytes) -> tuple[bytes, int] | None:
    """(lower-case wire name, qtype) of a one-question query with a plain name."""
    if len(query) < 17 or query[4:6] != b"\x00\x01" or query[2] & 0x80:
        return None
    end = query.find(0, 12)
    if end < 0 or len(query) < end + 5:
        return None
    return query[12 : end + 1].lower(), struct.unpack(">H", query[end + 1 : end + 3])[0]


def _records(zone: ZoneState) -> Iterator[bytes]:
    for wire, node in zone.names.items():
        for rdtype, (ttl, rdatas) in node.rrsets.items():
            for rdata in rdatas:
                yield xfr.rr_wire(wire, rdtype, ttl, rdata)


def _step_records(rrs: tuple[tuple[bytes, int, int, bytes], ...]) -> list[bytes]:
    return [xfr.rr_wire(owner, rdtype, ttl, rdata) for owner, rdtype, ttl, rdata in rrs]


class Transfers:
    """AXFR/IXFR answers for the catalog's zones, to the secondaries' keys."""

    def __init__(self, catalog: Catalog, journal: Journal, keyring: Keyring | None = None) -> None:
        self.catalog = catalog
        self.journal = journal
        self.keyring = keyring if keyring is not None else Keyring()
        # key name -> the packed address its transfers must come from, when
        # [transfer] check_source is on (an absent key: any address).
        self.sources: dict[dns.name.Name, bytes] = {}
        self.sent = {"axfr": 0, "ixfr": 0, "refused": 0}

    def signed(self, query: bytes, tcp: bool) -> bytes | None:
        """The answer to a TSIG-signed query other than a transfer (a secondary's SOA check).

        The ordinary responder answers the query without its TSIG; the answer is
        then signed with the query's key. Keys other than the secondaries' get
        NOTAUTH (RFC 8945 §5.2); the DNS shells hand every NOTAUTH answer to
        :class:`homeport.server.dns_update.UpdateHandler`, which answers for the
        hosts' keys. One dispatch: transfers (here, TCP) and signed queries try the
        secondaries' keys first, everything else signed ends with the hosts' keys.
        """
        checked = xfr.verify(query, self.keyring.secondary, int(time.time()))
        if isinstance(checked, bytes):
            return checked or None
        msg = checked.message
        question = _question(query)
        if question is not None and question[1] == _IXFR and not tcp:
            # RFC 1995 §2: an IXFR over UDP may be answered with the current SOA
            # alone; the secondary then comes over TCP if it is behind.
            zone = self.catalog.zone_state(question[0])
            if zone is not None:
                return xfr.soa_only(msg, zone.soa_rrset())
        answer = self.catalog.respond(xfr.unsigned_copy(msg), tcp=tcp)
        if answer is None:
            return None
        limit = MAX_TCP_SIZE if tcp else max(MIN_UDP_SIZE, min(msg.payload, EDNS_PAYLOAD))
        return xfr.sign_response(msg, answer, limit)

    def respond(self, query: bytes, address: bytes) -> list[bytes] | None:
        """The messages answering a transfer query; None if ``query`` is no transfer."""
        question = _question(query)
        if question is None or question[1] not in (_AXFR, _IXFR):
            return None
        checked = xfr.verify(query, self.keyring.secondary, int(time.time()))
        if isinstance(checked, bytes):
            self.sent["refused"] += 1
            return [checked] if checked else []
        msg = checked.message
        if checked.key is None or self.keyring.secondary(checked.key) is None:
            # Unsigned: REFUSED (a policy answer, RFC 5936 §6); never the zone.
            self.sent["refused"] += 1
            return [xfr.error(msg, dns.rcode.REFUSED)]
        source = self.sources.get(checked.key)
        if source is not None and source != address:
            # The right key from the wrong address (RFC 5936 §6: access control
            # by address and by key, both).
            self.sent["refused"] += 1
            return [xfr.error(msg, dns.rcode.REFUSED)]
        zone = self.catalog.zone_state(question[0])
        if zone is None:
            self.sent["refused"] += 1
            return [xfr.error(msg, dns.rcode.NOTAUTH)]  # RFC 5936 §2.2.1: not authoritative
        soa = zone.soa_rrset()
        out: list[bytes] | None = None
        kind = "IXFR"
        if question[1] == _IXFR:
            serial = xfr.ixfr_serial(msg)
            if serial is not None:
                if serial == zone.soa.serial:
                    out = [xfr.soa_only(msg, soa)]
                else:
                    steps = self.journal.since(zone.origin, serial)
                    if steps is not None:
                        out = list(xfr.messages(msg, xfr.ixfr_stream(soa, _deltas(steps))))
        if out is None:
            # AXFR, or an IXFR the journal cannot answer: the whole zone (RFC 1995 §4).
            kind = "AXFR"
            out = list(xfr.messages(msg, xfr.axfr_stream(soa, _records(zone))))
        self.sent[kind.lower()] += 1
        # The key's name says which secondary; never the key itself.
        log.info(
            "%s of %s serial %d to %s: %d messages, %d bytes",
            kind,
            zone.origin_name,
            zone.soa.serial,
            checked.key,
            len(out),
            sum(len(m) for m in out),
        )
        return out


def _deltas(steps: list[Step]) -> Iterator[xfr.Delta]:
    for step in steps:
        yield (
            step.old_serial,
            step.new_serial,
            _step_records(step.removed),
            _step_records(step.added),
        )


@dataclass
class _Flight:
    running: bool = False
    again: bool = False


class Notifier:
    """NOTIFY each secondary of each changed zone; one in flight per pair, the rest coalesced."""

    def __init__(self, catalog: Catalog, keyring: Keyring | None = None) -> None:
        self.catalog = catalog
        self.secondaries: list[SecondaryRow] = []
        self.keyring = keyring if keyring is not None else Keyring()
        self._flights: dict[tuple[bytes, str], _Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def poke(self, origin: bytes) -> None:
        """A zone changed: NOTIFY its secondaries (now, or when the NOTIFY out comes back)."""
        for secondary in self.secondaries:
            flight = self._flights.setdefault((origin, secondary.name), _Flight())
            if flight.running:
                flight.again = True
                continue
            flight.running = True
            task = asyncio.get_running_loop().create_task(self._fly(origin, secondary, flight))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fly(self, origin: bytes, secondary: SecondaryRow, flight: _Flight) -> None:
        try:
            while True:
                flight.again = False
                zone = self.catalog.zone_state(origin)
                if zone is None:
                    return  # dropped: the catalog zone's change tells the secondary
                soa = zone.soa_rrset()
                key = self.keyring.secondary(key_name(secondary.name))

                def build(
                    qid: int, soa: dns.rrset.RRset = soa, key: dns.tsig.Key | None = key
                ) -> bytes:
                    return xfr.notify(soa, key, lambda: qid)[1]

                ok = await send_notify((secondary.address, secondary.port), build)
                if ok is None:
                    log.warning(
                        "NOTIFY of %s to secondary %s was not answered",
                        zone.origin_name,
                        secondary.name,
                    )
                elif not ok:  # e.g. NSD, which reads no catalog zone, refuses its NOTIFY
                    log.info(
                        "NOTIFY of %s refused by secondary %s", zone.origin_name, secondary.name
                    )
                if not flight.again:
                    return
        finally:
            flight.running = False

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class HiddenPrimary:
    """Transfers + NOTIFY + catalog zone, following the store's secondaries and zones."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        journal: Journal,
        catalog_zone: str,
        *,
        check_source: bool = False,
        keyring: Keyring | None = None,
    ) -> None:
        # The secondaries' keys go into the server's one keyring (beside the hosts').
        self.keyring = keyring if keyring is not None else Keyring()
        self.store = store
        self.check_source = check_source
        self.catalog = catalog
        self.transfers = Transfers(catalog, journal, self.keyring)
        self.notifier = Notifier(catalog, self.keyring)
        self.catalog_zone = dns.name.from_text(catalog_zone).to_text().lower()
        self._members: list[str] | None = None
        self._catalog_serial = 0
        journal.listeners.append(self.notifier.poke)

    async def refresh(self) -> None:
        """Reload the secondaries and (if the zones changed) the catalog zone."""
        rows = await self.store.secondaries()
        self.keyring.secondaries = keyring_of(rows)
        if self.check_source:
            self.transfers.sources = {
                key_name(r.name): ipaddress.ip_address(r.address).packed for r in rows
            }
        added = {r.name for r in rows} - {s.name for s in self.notifier.secondaries}
        self.notifier.secondaries = rows
        members = [z for z in self.catalog.zones() if z != self.catalog_zone]
        if members != self._members:
            self._members = members
            # A serial that only grows, across restarts too: the clock's seconds,
            # or one more than the last when zones change faster than that.
            self._catalog_serial = max(self._catalog_serial + 1, int(time.time()))
            soa = Soa(**{**_CATALOG_SOA.__dict__, "serial": self._catalog_serial})
            try:
                self.catalog.load_zone(
                    self.catalog_zone, soa, catalog_records(self.catalog_zone, members)
                )
            except ConfigError as exc:
                log.error("catalog zone %s not served: %s", self.catalog_zone, exc)
        elif added:
            for origin in self.catalog.zones():
                self.notifier.poke(wire_name(origin)[1])

    async def close(self) -> None:
        await self.notifier.close()
