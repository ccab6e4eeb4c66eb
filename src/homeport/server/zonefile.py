"""Read an RFC 1035 master file (what a BIND or docker-ddns user migrates from).

dnspython does the parsing ($ORIGIN, $TTL, $INCLUDE is refused, relative names,
parentheses, escapes); this module turns its zone into the catalog's values and
its errors into one :class:`~homeport.errors.ConfigError` line with the place.
"""

from __future__ import annotations

import re
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.zone

from homeport.core.zone import Record, Soa
from homeport.errors import ConfigError

_LINE = re.compile(r"^(?P<file>.*?):(?P<line>\d+): (?P<msg>.*)$", re.S)


def parse_zone(
    text: str, origin: str | None = None, *, filename: str = "zone file"
) -> tuple[Soa, list[Record]]:
    """The SOA and the other records of a master file; ``origin`` defaults to its $ORIGIN."""
    try:
        zone = dns.zone.from_text(
            text,
            origin=origin,
            relativize=False,
            filename=filename,
            allow_include=False,  # a zone import must not read other files
            check_origin=True,  # RFC 1035 §5.2: SOA and NS at the origin
        )
    except dns.exception.SyntaxError as exc:
        match = _LINE.match(str(exc))
        if match:
            # dnspython counts the line after a record whose data it rejected.
            raise ConfigError(f"{filename}: near line {match['line']}: {match['msg']}") from exc
        raise ConfigError(f"{filename}: {exc}") from exc
    except dns.zone.NoSOA as exc:
        raise ConfigError(f"{filename}: no SOA record at the zone origin") from exc
    except dns.zone.NoNS as exc:
        raise ConfigError(f"{filename}: no NS records at the zone origin") from exc
    except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
        raise ConfigError(f"{filename}: {exc}") from exc
    return _values(zone, filename)


def read_zone_file(path: str | Path, origin: str | None = None) -> tuple[Soa, list[Record]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot read zone file {path}: {exc}") from exc
    return parse_zone(text, origin, filename=str(path))


def _values(zone: dns.zone.Zone, filename: str) -> tuple[Soa, list[Record]]:
    origin = zone.origin
    assert origin is not None
    soa_rdataset = zone.get_rdataset(origin, dns.rdatatype.SOA)
    assert soa_rdataset is not None  # check_origin guarantees it
    rd = soa_rdataset[0]
    assert isinstance(rd, dns.rdtypes.ANY.SOA.SOA)
    soa = Soa(
        mname=rd.mname.to_text().lower(),
        rname=rd.rname.to_text().lower(),
        serial=rd.serial,
        refresh=rd.refresh,
        retry=rd.retry,
        expire=rd.expire,
        minimum=rd.minimum,
        ttl=soa_rdataset.ttl,
    )
    records: list[Record] = []
    for name, node in zone.nodes.items():
        assert isinstance(name, dns.name.Name)
        owner = name.to_text().lower()
        for rdataset in node.rdatasets:
            rdtype = rdataset.rdtype
            if rdtype == dns.rdatatype.SOA:
                if name != origin:
                    raise ConfigError(f"{filename}: SOA record at {owner}, not at the zone origin")
                continue
            type_text = dns.rdatatype.to_text(rdtype)
            ttl = rdataset.ttl
            records.extend(Record(owner, type_text, ttl, r.to_text()) for r in rdataset)
    return soa, records
