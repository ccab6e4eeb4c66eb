from __future__ import annotations

import time
from pathlib import Path

import dns.message
import pytest

from homeport.core.zone import Catalog, Record
from homeport.errors import ConfigError
from homeport.server.zonefile import parse_zone, parse_zone_file, read_zone_file

BIND_STYLE = """\
$ORIGIN example.net.
$TTL 3600
@       IN SOA  ns1 hostmaster (
                2024010101 ; serial
                7200 3600 1209600 60 )
        IN NS   ns1
        IN NS   ns2.example.org.
        IN MX   10 mail
ns1     IN A    192.0.2.53
mail 300 IN A   192.0.2.25
home    60 IN A 198.51.100.7
home    60 IN AAAA 2001:db8::7
www     IN CNAME home
_acme-challenge.home 60 IN TXT "token one" "part two"
*.wild  IN A    192.0.2.99
_sip._udp IN SRV 10 5 5060 sip
"""


def test_parses_a_bind_style_file() -> None:
    soa, records = parse_zone(BIND_STYLE)
    assert soa.serial == 2024010101
    assert (soa.mname, soa.rname, soa.minimum, soa.ttl) == (
        "ns1.example.net.",
        "hostmaster.example.net.",
        60,
        3600,
    )
    assert Record("home.example.net.", "A", 60, "198.51.100.7") in records
    assert Record("mail.example.net.", "A", 300, "192.0.2.25") in records
    assert Record("example.net.", "MX", 3600, "10 mail.example.net.") in records
    assert Record("www.example.net.", "CNAME", 3600, "home.example.net.") in records
    assert (
        Record("_acme-challenge.home.example.net.", "TXT", 60, '"token one" "part two"') in records
    )
    assert Record("*.wild.example.net.", "A", 3600, "192.0.2.99") in records
    assert not [r for r in records if r.rdtype == "SOA"]
    # what it parsed loads and answers
    catalog = Catalog()
    catalog.load_zone("example.net.", soa, records)
    wire = catalog.respond(dns.message.make_query("home.example.net.", "AAAA").to_wire(), tcp=False)
    assert dns.message.from_wire(wire or b"").answer[0][0].address == "2001:db8::7"


def test_origin_argument_for_relative_files() -> None:
    soa, records = parse_zone(
        "@ 60 SOA ns1 h 1 2 3 4 5\n@ 60 NS ns1\nns1 60 A 192.0.2.1\n", "example.org."
    )
    assert soa.mname == "ns1.example.org."
    assert {r.name for r in records} == {"example.org.", "ns1.example.org."}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nfoo BOGUS 1\n",
            "zone file: near line 4: unknown rdatatype 'BOGUS'",
        ),
        (
            "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nfoo A 1.2.3.400 ; x\nbar A 1.2.3.4\n",
            "near line 4",
        ),
        ("$TTL 60\n@ NS ns1\n", "no SOA"),
        ("$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n", "no NS"),
        ("$TTL 60\n$INCLUDE /etc/passwd\n", "zone file"),
        ("$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ SOA ns1 h 2 2 3 4 5\n@ NS ns1\n", "more than one SOA"),
        ("$TTL 60\n@ SOA ns1 h 1 2 3 4 5\nwww SOA ns1 h 1 2 3 4 5\n@ NS ns1\n", "not at the zone"),
    ],
)
def test_errors_are_one_line_with_the_place(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_zone(text, "example.net.")
    assert "\n" not in str(info.value)


def test_generate_and_no_origin() -> None:
    text = (
        "$ORIGIN gen.example.\n$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\n"
        "$GENERATE 1-3 h$ A 10.0.0.$\n"
    )
    soa, records = parse_zone(text)
    assert soa.mname == "ns1.gen.example."
    assert Record("h3.gen.example.", "A", 60, "10.0.0.3") in records
    assert len(records) == 4  # NS + 3 generated
    with pytest.raises(ConfigError, match="no zone origin"):
        parse_zone("$TTL 60\n")


@pytest.mark.parametrize(
    "line",
    ["www.example.org. A 192.0.2.1", "$GENERATE 1-3 h$.example.org. A 10.0.0.$"],
)
def test_data_outside_the_zone_is_refused_with_its_line(line: str) -> None:
    # dnspython's reader skips it silently (BIND warns); NSD refuses the file, and so do we
    text = (
        f"$ORIGIN gen.example.\n$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\n\n{line}\nok A 1.2.3.4\n"
    )
    with pytest.raises(ConfigError, match=r"^zone file:6: data outside the zone gen\.example\.$"):
        parse_zone(text)


def test_every_record_keeps_its_line() -> None:
    text = (
        "$ORIGIN l.example.\n"
        "$TTL 60\n"
        "@ SOA ns1 h (\n"
        "    1 2 3 4 5 )\n"
        "  NS ns1 ; line 5\n"
        "\n"
        "; a comment\n"
        "ns1 A 192.0.2.1\n"
        'txt TXT ( "one"\n'
        '  "two" )\n'
        "last A 192.0.2.2"
    )
    parsed = parse_zone_file(text)
    assert [(r.name, r.rdtype) for r in parsed.records] == [
        ("l.example.", "NS"),
        ("ns1.l.example.", "A"),
        ("txt.l.example.", "TXT"),
        ("last.l.example.", "A"),
    ]
    assert parsed.lines == [5, 8, 9, 11]
    assert parsed.where(2) == "zone file:9"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read zone file"):
        read_zone_file(tmp_path / "missing.zone", "example.net.")


def test_100k_records_parse_and_load(tmp_path: Path) -> None:
    lines = [
        "$ORIGIN big.example.",
        "$TTL 60",
        "@ SOA ns1 h 1 2 3 4 5",
        "@ NS ns1",
        "ns1 A 192.0.2.1",
    ]
    lines += [f"h{i} A 10.{i >> 16}.{(i >> 8) & 255}.{i & 255}" for i in range(100_000)]
    path = tmp_path / "big.zone"
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    soa, records = read_zone_file(path)
    catalog = Catalog()
    catalog.load_zone("big.example.", soa, records)
    elapsed = time.monotonic() - started
    assert len(records) == 100_002
    wire = catalog.respond(dns.message.make_query("h99999.big.example.", "A").to_wire(), tcp=False)
    assert dns.message.from_wire(wire or b"").answer[0][0].address == "10.1.134.159"
    print(f"100k records: parse + load {elapsed:.1f} s")  # reported, never asserted
