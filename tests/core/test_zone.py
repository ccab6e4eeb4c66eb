"""The catalog's answers, read back with dnspython."""

from __future__ import annotations

import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from homeport.core import zone as zone_model
from homeport.core.zone import Catalog, Record, Soa
from homeport.errors import ConfigError, NotFoundError

SOA = Soa("ns1.example.net.", "hostmaster.example.net.", 1, 3600, 600, 86400, 60, 300)


def rec(name: str, rdtype: str, rdata: str, ttl: int = 60) -> Record:
    return Record(name, rdtype, ttl, rdata)


BASE = [
    rec("example.net.", "NS", "ns1.example.net."),
    rec("ns1.example.net.", "A", "192.0.2.53"),
    rec("www.example.net.", "A", "192.0.2.1"),
    rec("a.b.example.net.", "TXT", '"t"'),
]


def catalog(*extra: Record) -> Catalog:
    cat = Catalog()
    cat.load_zone("example.net.", SOA, [*BASE, *extra])
    return cat


def ask(cat: Catalog, name: str, rdtype: str = "A", tcp: bool = False) -> dns.message.Message:
    wire = cat.respond(dns.message.make_query(name, rdtype).to_wire(), tcp=tcp)
    assert wire is not None
    return dns.message.from_wire(wire)


def values(msg: dns.message.Message) -> list[str]:
    return [rd.to_text() for rrset in msg.answer for rd in rrset]


def test_positive_nxdomain_nodata() -> None:
    cat = catalog()
    r = ask(cat, "www.example.net.")
    assert (r.rcode(), values(r), bool(r.flags & dns.flags.AA)) == (0, ["192.0.2.1"], True)
    r = ask(cat, "nope.example.net.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.authority[0].ttl == 60  # min(SOA TTL 300, MINIMUM 60)
    r = ask(cat, "www.example.net.", "TXT")
    assert (r.rcode(), r.answer, r.authority[0].rdtype) == (0, [], dns.rdatatype.SOA)


def test_empty_non_terminal_comes_and_goes() -> None:
    cat = catalog()
    assert ask(cat, "b.example.net.").rcode() == dns.rcode.NOERROR
    cat.replace_name("example.net.", "a.b.example.net.", [], 2)
    assert ask(cat, "a.b.example.net.", "TXT").rcode() == dns.rcode.NXDOMAIN
    assert ask(cat, "b.example.net.").rcode() == dns.rcode.NXDOMAIN
    cat.replace_name(
        "example.net.", "x.y.b.example.net.", [rec("x.y.b.example.net.", "A", "192.0.2.9")], 3
    )
    assert ask(cat, "y.b.example.net.").rcode() == dns.rcode.NOERROR
    assert ask(cat, "b.example.net.").rcode() == dns.rcode.NOERROR


def test_names_defined_after_their_descendants_keep_their_records() -> None:
    # A regression: "_acme-challenge.home" first made "home" an empty node that hid home's A
    cat = Catalog()
    cat.load_zone(
        "example.net.",
        SOA,
        [
            rec("_acme-challenge.home.example.net.", "TXT", '"x"'),
            rec("x.y.late.example.net.", "A", "192.0.2.31"),
            rec("example.net.", "NS", "ns1.example.net."),
            rec("home.example.net.", "A", "203.0.113.7"),
            rec("y.late.example.net.", "TXT", '"y"'),
            rec("late.example.net.", "A", "192.0.2.30"),
        ],
    )
    assert values(ask(cat, "home.example.net.")) == ["203.0.113.7"]
    assert values(ask(cat, "y.late.example.net.", "TXT")) == ['"y"']
    assert values(ask(cat, "late.example.net.")) == ["192.0.2.30"]
    assert values(ask(cat, "_acme-challenge.home.example.net.", "TXT")) == ['"x"']
    # and the ancestors still count their descendants: removing one leaves the name
    cat.replace_name("example.net.", "_acme-challenge.home.example.net.", [], 2)
    assert values(ask(cat, "home.example.net.")) == ["203.0.113.7"]
    cat.replace_name("example.net.", "home.example.net.", [], 3)
    assert ask(cat, "home.example.net.").rcode() == dns.rcode.NXDOMAIN


def test_replace_name_changes_answers_and_serial() -> None:
    cat = catalog()
    cache = cat.packet_cache()
    cat.replace_name(
        "example.net.",
        "www.example.net.",
        [rec("www.example.net.", "AAAA", "2001:db8::1"), rec("www.example.net.", "TXT", '"x"')],
        42,
    )
    assert cat.packet_cache() is not cache  # the UDP packet cache starts afresh
    assert cat.serial("example.net.") == 42
    assert ask(cat, "www.example.net.").answer == []  # A is gone: NODATA
    assert values(ask(cat, "www.example.net.", "AAAA")) == ["2001:db8::1"]
    assert ask(cat, "example.net.", "SOA").answer[0][0].serial == 42
    assert ask(cat, "nope.example.net.").authority[0][0].serial == 42
    cat.replace_name(
        "example.net.", "new.example.net.", [rec("new.example.net.", "A", "192.0.2.2")], 43
    )
    assert values(ask(cat, "NEW.example.net.")) == ["192.0.2.2"]
    cat.set_serial("example.net.", 44)
    assert ask(cat, "example.net.", "SOA", tcp=True).answer[0][0].serial == 44


def test_zone_errors() -> None:
    cat = catalog()
    with pytest.raises(NotFoundError):
        cat.replace_name("example.org.", "www.example.org.", [], 2)
    with pytest.raises(ConfigError, match="not in zone"):
        cat.replace_name("example.net.", "www.example.org.", [], 2)
    with pytest.raises(ConfigError, match=r"bad A data at www\.example\.net\."):
        cat.replace_name(
            "example.net.", "www.example.net.", [rec("www.example.net.", "A", "1.2.3")], 2
        )
    with pytest.raises(ConfigError, match="32-bit"):
        cat.replace_name("example.net.", "www.example.net.", [], 2**32)
    with pytest.raises(ConfigError, match="SOA"):
        cat.load_zone("example.org.", SOA, [rec("example.org.", "SOA", "a. b. 1 2 3 4 5")])
    with pytest.raises(ConfigError, match="unknown record type"):
        cat.load_zone("example.org.", SOA, [rec("example.org.", "BOGUS", "1")])
    assert values(ask(cat, "www.example.net.")) == ["192.0.2.1"]  # nothing half-done
    assert cat.serial("example.net.") == 1


def test_zones_nest_and_drop() -> None:
    cat = catalog(rec("x.sub.example.net.", "A", "192.0.2.10"))
    assert values(ask(cat, "x.sub.example.net.")) == ["192.0.2.10"]
    cat.load_zone("sub.example.net.", SOA, [rec("sub.example.net.", "NS", "ns1.example.net.")])
    assert cat.zones() == ["example.net.", "sub.example.net."]
    r = ask(cat, "x.sub.example.net.")
    assert (r.rcode(), r.authority[0].name.to_text()) == (dns.rcode.NXDOMAIN, "sub.example.net.")
    cat.drop_zone("sub.example.net.")
    assert values(ask(cat, "x.sub.example.net.")) == ["192.0.2.10"]
    cat.drop_zone("example.net.")
    assert ask(cat, "www.example.net.").rcode() == dns.rcode.REFUSED
    with pytest.raises(NotFoundError):
        cat.drop_zone("example.net.")


def test_reload_replaces_the_whole_zone() -> None:
    cat = catalog()
    cat.load_zone(
        "example.net.",
        SOA,
        [rec("example.net.", "NS", "ns1.example.net."), rec("v2.example.net.", "A", "192.0.2.2")],
    )
    assert ask(cat, "www.example.net.").rcode() == dns.rcode.NXDOMAIN
    assert values(ask(cat, "v2.example.net.")) == ["192.0.2.2"]


def test_wildcards() -> None:
    cat = catalog(rec("*.w.example.net.", "A", "192.0.2.99"), rec("e.w.example.net.", "TXT", '"e"'))
    assert values(ask(cat, "q.w.example.net.")) == ["192.0.2.99"]
    assert ask(cat, "q.w.example.net.").answer[0].name.to_text() == "q.w.example.net."
    assert ask(cat, "e.w.example.net.").answer == []  # exists: no wildcard (RFC 4592 §2.2.1)
    assert values(ask(cat, "deep.q.w.example.net.")) == ["192.0.2.99"]
    # "b" exists as an empty non-terminal: it is the closest encloser, and has no "*"
    assert ask(cat, "z.b.example.net.").rcode() == dns.rcode.NXDOMAIN


def test_cnames() -> None:
    cat = catalog(
        rec("c1.example.net.", "CNAME", "c2.example.net."),
        rec("c2.example.net.", "CNAME", "www.example.net."),
        rec("loop.example.net.", "CNAME", "loop.example.net."),
        rec("dangling.example.net.", "CNAME", "missing.example.net."),
        rec("out.example.net.", "CNAME", "www.example.org."),
    )
    r = ask(cat, "c1.example.net.")
    assert [rrset.rdtype for rrset in r.answer] == [dns.rdatatype.CNAME] * 2 + [dns.rdatatype.A]
    assert ask(cat, "loop.example.net.").rcode() == dns.rcode.NOERROR
    r = ask(cat, "dangling.example.net.")
    assert (r.rcode(), len(r.answer)) == (dns.rcode.NXDOMAIN, 1)  # RFC 6604
    assert values(ask(cat, "out.example.net.")) == ["www.example.org."]
    assert values(ask(cat, "c1.example.net.", "CNAME")) == ["c2.example.net."]


def test_a_cname_to_the_apex_answers_the_soa() -> None:
    # RFC 1034 §4.3.2 step 3a follows the chain for every type but CNAME
    cat = catalog(
        rec("www.example.net.", "CNAME", "example.net."),
        rec("alias.example.net.", "CNAME", "www.example.net."),
    )
    for name in ("www.example.net.", "alias.example.net."):
        r = ask(cat, name, "SOA")
        assert (r.rcode(), r.authority) == (dns.rcode.NOERROR, [])
        assert r.answer[-1].rdtype == dns.rdatatype.SOA
        assert r.answer[-1].name.to_text() == "example.net."
        assert r.answer[-1][0].serial == 1
        assert r.answer[-1].ttl == 300  # the SOA's own TTL, not the negative one


def test_a_cname_chain_looks_its_targets_up_as_queries() -> None:
    # found by the differential suite: NSD answers each target as step 3 would for a query
    cat = catalog(
        rec("*.w.example.net.", "A", "192.0.2.99"),
        rec("towild.example.net.", "CNAME", "foo.w.example.net."),
        rec("sub.example.net.", "NS", "ns.sub.example.net."),
        rec("ns.sub.example.net.", "A", "192.0.2.7"),
        rec("todeleg.example.net.", "CNAME", "www.sub.example.net."),
        rec("toapex.example.net.", "CNAME", "example.net."),
    )
    r = ask(cat, "towild.example.net.")  # RFC 4592 §3.3.1: the wildcard answers the target
    assert (r.rcode(), values(r)) == (dns.rcode.NOERROR, ["foo.w.example.net.", "192.0.2.99"])
    assert r.answer[1].name.to_text() == "foo.w.example.net."
    r = ask(cat, "todeleg.example.net.", "AAAA")  # the target is below a cut: its referral
    assert (r.rcode(), values(r)) == (dns.rcode.NOERROR, ["www.sub.example.net."])
    assert [rrset.to_text() for rrset in r.authority] == [
        "sub.example.net. 60 IN NS ns.sub.example.net."
    ]
    assert r.additional[0].to_text() == "ns.sub.example.net. 60 IN A 192.0.2.7"
    r = ask(cat, "toapex.example.net.", "NS")  # the apex NS RRset comes with its glue
    assert values(r) == ["example.net.", "ns1.example.net."]
    assert r.additional[0].to_text() == "ns1.example.net. 60 IN A 192.0.2.53"


def test_delegation() -> None:
    cat = catalog(
        rec("sub.example.net.", "NS", "ns.sub.example.net."),
        rec("ns.sub.example.net.", "A", "192.0.2.7"),
    )
    for name, rdtype in [
        ("x.sub.example.net.", "A"),
        ("ns.sub.example.net.", "A"),
        ("sub.example.net.", "NS"),
    ]:
        r = ask(cat, name, rdtype)
        assert not r.flags & dns.flags.AA, name
        assert (r.answer, r.authority[0].rdtype) == ([], dns.rdatatype.NS)
        assert values(dns.message.from_wire(r.to_wire())) == []
        assert r.additional[0][0].to_text() == "192.0.2.7"
    r = ask(cat, "sub.example.net.", "DS")  # the parent side of the cut answers DS
    assert r.flags & dns.flags.AA
    # a cut appearing with replace_name turns answers below it into referrals
    cat.replace_name(
        "example.net.", "b.example.net.", [rec("b.example.net.", "NS", "ns1.example.net.")], 2
    )
    assert not ask(cat, "a.b.example.net.", "TXT").flags & dns.flags.AA
    cat.replace_name("example.net.", "b.example.net.", [], 3)
    assert values(ask(cat, "a.b.example.net.", "TXT")) == ['"t"']


def test_apex_ns_glue_follows_the_ns_address() -> None:
    cat = catalog()
    assert ask(cat, "example.net.", "NS").additional[0][0].to_text() == "192.0.2.53"
    cat.replace_name(
        "example.net.", "ns1.example.net.", [rec("ns1.example.net.", "A", "192.0.2.54")], 2
    )
    assert ask(cat, "example.net.", "NS").additional[0][0].to_text() == "192.0.2.54"


def test_any_and_ttl() -> None:
    cat = catalog(
        rec("m.example.net.", "A", "192.0.2.5", ttl=30),
        rec("m.example.net.", "A", "192.0.2.6", ttl=90),
    )
    r = ask(cat, "m.example.net.")
    assert r.answer[0].ttl == 30  # RFC 2181 §5.2: one TTL per RRset


def test_any_gets_one_rrset_as_from_nsd() -> None:
    # RFC 8482 §4.1; the choice is NSD's (the differential suite compares it)
    cat = catalog(
        rec("m.example.net.", "TXT", '"t"'),
        rec("m.example.net.", "AAAA", "2001:db8::5"),
        rec("m.example.net.", "A", "192.0.2.5"),
        rec("t.example.net.", "TXT", '"t"'),
        rec("t.example.net.", "CAA", '0 issue "ca.example"'),
        rec("*.w.example.net.", "MX", "10 mail.example.net."),
    )
    for name, rdtype in [
        ("example.net.", "SOA"),  # the apex: its SOA
        ("m.example.net.", "AAAA"),  # the first address RRset
        ("t.example.net.", "CAA"),  # else the last one
        ("x.w.example.net.", "MX"),  # a wildcard's, owned by the question name
        ("www.example.net.", "A"),
    ]:
        r = ask(cat, name, "ANY")
        assert [(rrset.name.to_text(), rrset.rdtype) for rrset in r.answer] == [
            (name, dns.rdatatype.from_text(rdtype))
        ]
    assert ask(cat, "b.example.net.", "ANY").answer == []  # an empty non-terminal: NODATA


def test_answers_stay_consistent_under_concurrent_changes() -> None:
    cat = catalog()
    query = dns.message.make_query("www.example.net.", "A").to_wire()
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                r = dns.message.from_wire(cat.respond(query, tcp=False) or b"")
                seen.update(values(r) or [dns.rcode.to_text(r.rcode())])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            ip = f"192.0.2.{i % 2 + 1}"
            cat.replace_name(
                "example.net.", "www.example.net.", [rec("www.example.net.", "A", ip)], i + 2
            )
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert seen <= {"192.0.2.1", "192.0.2.2"}  # never a transient NODATA or error
    assert values(ask(cat, "www.example.net.")) == ["192.0.2.2"]


def test_bad_soa_serial_is_refused() -> None:
    from dataclasses import replace

    with pytest.raises(ConfigError, match="32-bit"):
        Catalog().load_zone("example.net.", replace(SOA, serial=-1), BASE)


def test_out_of_range_numbers_are_bad_configuration() -> None:
    # dnspython says ValueError (not one of its own exceptions) for these.
    big_refresh = Soa("ns1.example.org.", "h.example.org.", 1, -1, 600, 86400, 60, 300)
    with pytest.raises(ConfigError, match="bad SOA"):
        Catalog().load_zone("example.org.", big_refresh, [])
    with pytest.raises(ConfigError, match="unknown record type"):
        Catalog().load_zone("example.org.", SOA, [rec("example.org.", "TYPE65536", "1")])


class _Bug(Exception):
    """Stands for a bug: nothing dnspython raises for bad input."""


def _raise_bug(*args: object, **kwargs: object) -> None:
    raise _Bug("a bug, not bad input")


@pytest.mark.parametrize(
    ("target", "rdtype", "rdata"),
    [
        pytest.param("dns.rdata.from_text", "MX", "10 mx.example.org.", id="rdata"),
        pytest.param("dns.rdatatype.from_text", "A", "192.0.2.1", id="type"),
        pytest.param("dns.name.from_text", "A", "192.0.2.1", id="name"),
        pytest.param("dns.rdtypes.ANY.SOA.SOA", "A", "192.0.2.1", id="soa"),
        pytest.param("A", "A", "192.0.2.1", id="address"),
    ],
)
def test_a_bug_while_parsing_is_not_reported_as_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, target: str, rdtype: str, rdata: str
) -> None:
    """Only dnspython's bad-input exceptions become ConfigError; a bug keeps its own type."""
    if target == "A":  # addresses go through the constructors in zone._DIRECT
        monkeypatch.setitem(zone_model._DIRECT, dns.rdatatype.A, _raise_bug)
    else:
        monkeypatch.setattr(target, _raise_bug)
    # An origin no other test uses: wire_name caches its parse per name.
    origin = f"{target.replace('.', '-').lower()}.example.org."
    with pytest.raises(_Bug):
        Catalog().load_zone(origin, SOA, [rec(f"a.{origin}", rdtype, rdata)])
