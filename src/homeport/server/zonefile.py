"""Read an RFC 1035 master file (what a BIND or docker-ddns user migrates from).

dnspython's master-file reader does the parsing ($ORIGIN, $TTL, $GENERATE,
relative names, parentheses, escapes; $INCLUDE is refused). Its records go
straight into a list instead of a :class:`dns.zone.Zone`: building the zone's
name index costs ~40% of the time and most of the memory, and the catalog
builds its own. Errors become one :class:`~homeport.errors.ConfigError` line
with the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.tokenizer
import dns.zonefile

from homeport.core.zone import Record, Soa
from homeport.errors import ConfigError

_LINE = re.compile(r"^(?P<file>.*?):(?P<line>\d+): (?P<msg>.*)$", re.S)


class _Collector:
    """The part of a dnspython transaction its zone-file Reader uses: collect records."""

    def __init__(self, origin: dns.name.Name | None) -> None:
        self.origin = origin
        self.manager = self
        self.records: list[tuple[dns.name.Name, int, dns.rdata.Rdata]] = []

    def origin_information(self) -> tuple[dns.name.Name | None, bool, dns.name.Name | None]:
        return self.origin, False, self.origin

    def check_put_rdataset(self, check: Any) -> None:
        pass  # the catalog decides what a name may hold

    def _set_origin(self, origin: dns.name.Name) -> None:
        if self.origin is None:  # no origin given: the file's first $ORIGIN
            self.origin = origin

    def add(self, name: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> None:
        self.records.append((name, ttl, rdata))


def parse_zone(
    text: str, origin: str | None = None, *, filename: str = "zone file"
) -> tuple[Soa, list[Record]]:
    """The SOA and the other records of a master file; ``origin`` defaults to its $ORIGIN."""
    try:
        origin_name = dns.name.from_text(origin) if origin else None
        collector = _Collector(origin_name)
        reader = dns.zonefile.Reader(
            dns.tokenizer.Tokenizer(text, filename),
            dns.rdataclass.IN,
            cast(Any, collector),
            allow_include=False,  # a zone import must not read other files
        )
        reader.read()
    except dns.exception.SyntaxError as exc:
        match = _LINE.match(str(exc))
        if match:
            # dnspython counts the line after a record whose data it rejected.
            raise ConfigError(f"{filename}: near line {match['line']}: {match['msg']}") from exc
        raise ConfigError(f"{filename}: {exc}") from exc
    except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
        raise ConfigError(f"{filename}: {exc}") from exc
    if collector.origin is None:
        raise ConfigError(f"{filename}: no zone origin (give one, or $ORIGIN in the file)")
    return _values(collector.origin, collector.records, filename)


def read_zone_file(path: str | Path, origin: str | None = None) -> tuple[Soa, list[Record]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot read zone file {path}: {exc}") from exc
    return parse_zone(text, origin, filename=str(path))


def _values(
    origin: dns.name.Name,
    parsed: list[tuple[dns.name.Name, int, dns.rdata.Rdata]],
    filename: str,
) -> tuple[Soa, list[Record]]:
    soas: list[tuple[int, dns.rdtypes.ANY.SOA.SOA]] = []
    has_ns = False
    records: list[Record] = []
    type_text: dict[int, str] = {}
    for name, ttl, rdata in parsed:
        rdtype = rdata.rdtype
        owner = name.to_text().lower()
        if not name.is_subdomain(origin):
            raise ConfigError(f"{filename}: {owner} is outside the zone {origin}")
        if rdtype == dns.rdatatype.SOA:
            if name != origin:
                raise ConfigError(f"{filename}: SOA record at {owner}, not at the zone origin")
            assert isinstance(rdata, dns.rdtypes.ANY.SOA.SOA)
            soas.append((ttl, rdata))
            continue
        has_ns = has_ns or (rdtype == dns.rdatatype.NS and name == origin)
        text = type_text.get(rdtype)
        if text is None:
            text = type_text[rdtype] = dns.rdatatype.to_text(rdtype)
        records.append(Record(owner, text, ttl, rdata.to_text()))
    # RFC 1035 §5.2: exactly one SOA, and NS records, at the top of the zone.
    if not soas:
        raise ConfigError(f"{filename}: no SOA record at the zone origin")
    if len({rd for _, rd in soas}) > 1:
        raise ConfigError(f"{filename}: more than one SOA record")
    if not has_ns:
        raise ConfigError(f"{filename}: no NS records at the zone origin")
    ttl, rd = soas[0]
    soa = Soa(
        mname=rd.mname.to_text().lower(),
        rname=rd.rname.to_text().lower(),
        serial=rd.serial,
        refresh=rd.refresh,
        retry=rd.retry,
        expire=rd.expire,
        minimum=rd.minimum,
        ttl=ttl,
    )
    return soa, records
