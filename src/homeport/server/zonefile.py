"""Read an RFC 1035 master file (what a BIND or docker-ddns user migrates from).

dnspython's master-file reader does the parsing ($ORIGIN, $TTL, $GENERATE,
relative names, parentheses, escapes; $INCLUDE is refused). Its records go
straight into a list instead of a :class:`dns.zone.Zone`: building the zone's
name index costs ~40% of the time and most of the memory, and the catalog
builds its own. Errors become one :class:`~homeport.errors.ConfigError` line
with the file and line; so does data outside the zone, which dnspython's
reader would skip without a word (NSD refuses such a file too). Every record
keeps the line it starts on, so a later check (:mod:`homeport.core.zone_check`)
can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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

    def __init__(self, origin: dns.name.Name | None, tok: _Tokenizer) -> None:
        self.origin = origin
        self.manager = self
        self.tok = tok
        self.records: list[tuple[dns.name.Name, int, dns.rdata.Rdata]] = []
        self.lines: list[int] = []

    def origin_information(self) -> tuple[dns.name.Name | None, bool, dns.name.Name | None]:
        return self.origin, False, self.origin

    def check_put_rdataset(self, check: Any) -> None:
        pass  # the catalog decides what a name may hold

    def _set_origin(self, origin: dns.name.Name) -> None:
        if self.origin is None:  # no origin given: the file's first $ORIGIN
            self.origin = origin

    def add(self, name: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> None:
        self.records.append((name, ttl, rdata))
        self.lines.append(self.tok.record_line)


class _Tokenizer(dns.tokenizer.Tokenizer):
    """A tokenizer that notes the line the current record starts on.

    The reader asks for a token "with leading whitespace" exactly where a line
    (a record or a directive) begins; a record in parentheses may go on for
    several lines after that.
    """

    record_line = 0

    def get(self, want_leading: bool = False, want_comment: bool = False) -> dns.tokenizer.Token:
        if want_leading:
            self.record_line = self.line_number
        return super().get(want_leading, want_comment)


class _Reader(dns.zonefile.Reader):
    """dnspython's reader, refusing data outside the zone instead of skipping it."""

    def _eat_line(self) -> None:  # called for a name outside the zone, nothing else
        raise _OutOfZone


class _OutOfZone(Exception):
    pass


@dataclass(frozen=True)
class ZoneFile:
    """What a master file says: its SOA, its other records and the line each starts on."""

    filename: str
    soa: Soa
    records: list[Record]
    lines: list[int]  # lines[i] is where records[i] starts

    def where(self, index: int) -> str:
        return f"{self.filename}:{self.lines[index]}"


def parse_zone(
    text: str, origin: str | None = None, *, filename: str = "zone file"
) -> tuple[Soa, list[Record]]:
    """The SOA and the other records of a master file; ``origin`` defaults to its $ORIGIN."""
    parsed = parse_zone_file(text, origin, filename=filename)
    return parsed.soa, parsed.records


def parse_zone_file(
    text: str, origin: str | None = None, *, filename: str = "zone file"
) -> ZoneFile:
    """:func:`parse_zone`, with the line of every record."""
    tok = _Tokenizer(text, filename)
    try:
        origin_name = dns.name.from_text(origin) if origin else None
        collector = _Collector(origin_name, tok)
        reader = _Reader(
            tok,
            dns.rdataclass.IN,
            cast(Any, collector),
            allow_include=False,  # a zone import must not read other files
        )
        reader.read()
    except _OutOfZone:
        raise ConfigError(
            f"{filename}:{tok.record_line}: data outside the zone {collector.origin}"
        ) from None
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
    soa, records, lines = _values(collector.origin, collector.records, collector.lines, filename)
    return ZoneFile(filename, soa, records, lines)


def read_zone_file(path: str | Path, origin: str | None = None) -> tuple[Soa, list[Record]]:
    parsed = load_zone_file(path, origin)
    return parsed.soa, parsed.records


def load_zone_file(path: str | Path, origin: str | None = None) -> ZoneFile:
    """:func:`read_zone_file`, with the line of every record."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot read zone file {path}: {exc}") from exc
    return parse_zone_file(text, origin, filename=str(path))


def _values(
    origin: dns.name.Name,
    parsed: list[tuple[dns.name.Name, int, dns.rdata.Rdata]],
    parsed_lines: list[int],
    filename: str,
) -> tuple[Soa, list[Record], list[int]]:
    soas: list[tuple[int, dns.rdtypes.ANY.SOA.SOA]] = []
    has_ns = False
    records: list[Record] = []
    lines: list[int] = []
    type_text: dict[int, str] = {}
    for (name, ttl, rdata), line in zip(parsed, parsed_lines, strict=True):
        rdtype = rdata.rdtype
        owner = name.to_text().lower()
        if not name.is_subdomain(origin):
            raise ConfigError(f"{filename}:{line}: {owner} is outside the zone {origin}")
        if rdtype == dns.rdatatype.SOA:
            if name != origin:
                raise ConfigError(
                    f"{filename}:{line}: SOA record at {owner}, not at the zone origin"
                )
            assert isinstance(rdata, dns.rdtypes.ANY.SOA.SOA)
            soas.append((ttl, rdata))
            continue
        has_ns = has_ns or (rdtype == dns.rdatatype.NS and name == origin)
        text = type_text.get(rdtype)
        if text is None:
            text = type_text[rdtype] = dns.rdatatype.to_text(rdtype)
        records.append(Record(owner, text, ttl, rdata.to_text()))
        lines.append(line)
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
    return soa, records, lines
