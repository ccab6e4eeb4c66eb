"""check_import: an import serves every record it reads, or names the one it would not."""

from __future__ import annotations

import pytest

from homeport.core import zone as zone_model
from homeport.core.zone import Record, Soa
from homeport.core.zone_check import Checked, Refused, check_import

ORIGIN = "example.net."
SOA = Soa("ns1.example.net.", "hostmaster.example.net.", 1, 3600, 600, 86400, 60, 300)
BASE = [
    Record(ORIGIN, "NS", 60, "ns1.example.net."),
    Record("ns1.example.net.", "A", 60, "192.0.2.53"),
]


def r(name: str, rdtype: str, rdata: str, ttl: int = 60) -> Record:
    return Record(f"{name}.{ORIGIN}", rdtype, ttl, rdata)


def test_descendants_first_and_duplicates_are_kept() -> None:
    records = [
        *BASE,
        r("_acme-challenge.home", "TXT", '"x"'),
        r("home", "A", "203.0.113.7"),
        r("home", "A", "203.0.113.7"),  # a duplicate: an RRset is a set
        r("sub", "NS", "ns.sub.example.net."),
        r("ns.sub", "A", "192.0.2.9"),  # glue
        r("sub", "DS", "1 13 2 " + "ab" * 32),  # the parent side of the cut
        r("c", "CNAME", "home.example.net."),
        r("c", "RRSIG", "A 13 3 60 20260101000000 20250101000000 1 example.net. AAAA"),
    ]
    assert check_import(ORIGIN, SOA, records) == Checked(served=9, duplicates=1)


@pytest.mark.parametrize(
    ("records", "refused"),
    [
        ([r("t", "TXT", '"a"', 60), r("t", "TXT", '"b"', 70)], (3, "TTL 70 differs from 60", 2)),
        (
            [r("w", "CNAME", "ns1.example.net."), r("w", "A", "192.0.2.1")],
            (3, "CNAME and other", 2),
        ),
        (
            [r("w", "A", "192.0.2.1"), r("w", "CNAME", "ns1.example.net.")],
            (3, "CNAME and other", 2),
        ),
        ([r("w", "CNAME", "a.example."), r("w", "CNAME", "b.example.")], (3, "a second CNAME", 2)),
        (
            [r("sub", "NS", "ns.sub.example.net."), r("www.sub", "A", "192.0.2.1")],
            (3, "hidden by the delegation at sub.example.net.", 2),
        ),
        (
            [r("sub", "NS", "ns.sub.example.net."), r("sub", "TXT", '"at the cut"')],
            (3, "hidden by the delegation", 2),
        ),
        ([r("d", "DNAME", "example.org.")], (2, "DNAME", None)),
        ([Record("www.example.org.", "A", 60, "192.0.2.1")], (2, "outside the zone", None)),
        ([r("bad", "A", "300.1.1.1")], (2, "bad A data", None)),
    ],
)
def test_what_would_not_be_served_is_refused(
    records: list[Record], refused: tuple[int, str, int | None]
) -> None:
    result = check_import(ORIGIN, SOA, [*BASE, *records])
    assert isinstance(result, Refused)
    assert (result.index, result.other) == (refused[0], refused[2])
    assert refused[1] in result.reason


def test_a_zone_model_that_drops_a_record_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # The final comparison is the proof: were build_zone to lose a name again, the import says so.
    real = zone_model.build_zone

    def lossy(origin: str, soa: Soa, records: list[Record]) -> zone_model.ZoneState:
        return real(origin, soa, [rec for rec in records if not rec.name.startswith("home.")])

    monkeypatch.setattr(zone_model, "build_zone", lossy)
    result = check_import(ORIGIN, SOA, [*BASE, r("home", "A", "203.0.113.7")])
    assert result == Refused(2, "would not be served as read (a homeport bug: please report it)")


def test_a_zone_model_that_adds_a_record_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = zone_model.build_zone

    def padded(origin: str, soa: Soa, records: list[Record]) -> zone_model.ZoneState:
        return real(origin, soa, [*records, r("extra", "A", "192.0.2.99")])

    monkeypatch.setattr(zone_model, "build_zone", padded)
    result = check_import(ORIGIN, SOA, BASE)
    assert isinstance(result, Refused)
    assert (result.index, "the zone would hold records") == (None, result.reason[:27])


def test_an_unknown_type_is_refused_and_a_bug_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_import(ORIGIN, SOA, [*BASE, r("x", "TYPE65536", "1")]) == Refused(
        2, "unknown record type 'TYPE65536'"
    )

    class Bug(Exception):
        pass

    def broken(text: str) -> int:
        raise Bug(text)

    monkeypatch.setattr("dns.rdatatype.from_text", broken)
    with pytest.raises(Bug):
        check_import(ORIGIN, SOA, BASE)
