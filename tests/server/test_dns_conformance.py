"""Every rule of docs/architecture.md "Authoritative DNS", checked with real dig and kdig
over UDP and TCP.

The rules run against `homeport server run` as installed (a process from the
venv, its zones loaded with `zone import`), once on each event loop; the tests
that change the catalog directly run the listener in-process.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.rcode
import pytest

from homeport.core.zone import Record
from tests.helpers import run_homeport

from .conftest import start_server, stop_server
from .dns_fixtures import (
    BIG_TXT,
    CHILD,
    CHILD_RECORDS,
    CHILD_SOA,
    LOOPS,
    RECORDS,
    SOA,
    ZONE,
    dig,
    kdig,
    live_dns,
    make_catalog,
    master_file,
)

pytestmark = pytest.mark.peer

TRANSPORTS = [pytest.param((), id="udp"), pytest.param(("+tcp",), id="tcp")]


@dataclass(frozen=True)
class ServedDns:
    """`homeport server run` serving the fixture zones; ``port`` is its DNS port."""

    port: int
    loop: str


@pytest.fixture(scope="module", params=LOOPS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedDns]:
    loop = str(request.param)
    data = tmp_path_factory.mktemp(f"dns-{loop}")
    for origin, soa, records in ((ZONE, SOA, RECORDS), (CHILD, CHILD_SOA, CHILD_RECORDS)):
        path = data.parent / f"{loop}-{origin}zone"
        path.write_text(master_file(origin, soa, records))
        imported = run_homeport("server", "zone", "import", str(path), "--zone", origin,
                                "--data", str(data))  # fmt: skip
        assert imported.returncode == 0, imported.stderr
    srv = start_server(data, "--limits", "off", "--loop", loop)
    try:
        assert f'"loop": "{loop}"' in srv.output[0], srv.output[0]
        yield ServedDns(srv.dns[1], loop)
    finally:
        stop_server(srv)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_authoritative_answer(server: ServedDns, transport: tuple[str, ...]) -> None:
    r = dig(server.port, "+norec", *transport, "www.example.net", "A")
    assert r.status == "NOERROR"
    assert {"qr", "aa"} <= r.flags
    assert "ra" not in r.flags  # never a resolver
    assert r.answer == [["www.example.net.", "60", "IN", "A", "192.0.2.1"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kdig_authoritative_answer(server: ServedDns, transport: tuple[str, ...]) -> None:
    r = kdig(server.port, "+norec", *transport, "www.example.net", "AAAA")
    assert r.status == "NOERROR"
    assert "aa" in r.flags
    assert r.answer == [["www.example.net.", "60", "IN", "AAAA", "2001:db8::1"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_nxdomain_has_soa_with_negative_ttl(server: ServedDns, transport: tuple[str, ...]) -> None:
    r = dig(server.port, "+norec", *transport, "nope.example.net", "A")
    assert r.status == "NXDOMAIN"
    assert "aa" in r.flags
    assert r.answer == []
    # RFC 2308 §3: TTL = min(SOA TTL 3600, MINIMUM 30)
    assert r.authority[0][:4] == ["example.net.", "30", "IN", "SOA"]
    assert r.authority[0][6] == "7"  # the serial


@pytest.mark.parametrize("tool", [dig, kdig])
def test_nodata_for_other_type(server: ServedDns, tool: object) -> None:
    r = tool(server.port, "+norec", "home.example.net", "AAAA")  # type: ignore[operator]
    assert r.status == "NOERROR"
    assert r.answer == []
    assert r.authority[0][3] == "SOA"


def test_empty_non_terminal_is_nodata(server: ServedDns) -> None:
    for name in ("b.c.example.net", "c.example.net"):
        r = dig(server.port, "+norec", name, "A")
        assert r.status == "NOERROR", name
        assert r.authority[0][3] == "SOA"


@pytest.mark.parametrize("tool", [dig, kdig])
def test_refused_outside_served_zones(server: ServedDns, tool: object) -> None:
    for name in ("example.org", "net", "."):
        r = tool(server.port, "+rec", name, "A")  # type: ignore[operator]
        assert r.status == "REFUSED", name
        assert "ra" not in r.flags
        assert "aa" not in r.flags


def test_most_specific_zone_wins(server: ServedDns) -> None:
    r = dig(server.port, "+norec", "child.example.net", "SOA")
    assert r.answer[0][0] == "child.example.net."
    assert dig(server.port, "host.child.example.net", "A").answer[0][4] == "203.0.113.5"
    r = dig(server.port, "nope.child.example.net", "A")
    assert r.status == "NXDOMAIN"
    assert r.authority[0][0] == "child.example.net."


def test_apex_ns_has_glue(server: ServedDns) -> None:
    r = dig(server.port, "+norec", "example.net", "NS")
    assert sorted(rr[4] for rr in r.answer) == ["ns1.example.net.", "ns2.example.net."]
    glue = sorted((rr[0], rr[3], rr[4]) for rr in r.additional)
    assert glue == [
        ("ns1.example.net.", "A", "192.0.2.53"),
        ("ns1.example.net.", "AAAA", "2001:db8::53"),
        ("ns2.example.net.", "A", "192.0.2.54"),
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_referral_below_a_zone_cut(server: ServedDns, transport: tuple[str, ...]) -> None:
    r = dig(server.port, "+norec", *transport, "www.sub.example.net", "A")
    assert r.status == "NOERROR"
    assert "aa" not in r.flags
    assert r.answer == []
    assert r.authority == [["sub.example.net.", "60", "IN", "NS", "ns.sub.example.net."]]
    assert r.additional == [["ns.sub.example.net.", "60", "IN", "A", "192.0.2.77"]]


def test_cname_is_followed_in_zone(server: ServedDns) -> None:
    r = dig(server.port, "+norec", "alias.example.net", "A")
    assert [rr[3:] for rr in r.answer] == [["CNAME", "www.example.net."], ["A", "192.0.2.1"]]
    r = dig(server.port, "+norec", "alias.example.net", "CNAME")
    assert [rr[3:] for rr in r.answer] == [["CNAME", "www.example.net."]]


def test_wildcard(server: ServedDns) -> None:
    r = dig(server.port, "+norec", "anything.wild.example.net", "A")
    assert r.answer == [["anything.wild.example.net.", "60", "IN", "A", "192.0.2.99"]]
    r = dig(server.port, "+norec", "x.y.wild.example.net", "TXT")
    assert r.answer[0][0] == "x.y.wild.example.net."
    r = dig(server.port, "+norec", "z.wild.example.net", "AAAA")
    assert (r.status, r.answer, r.authority[0][3]) == ("NOERROR", [], "SOA")


def test_case_is_preserved(server: ServedDns) -> None:
    r = dig(server.port, "+norec", "WwW.ExAmPlE.NeT", "A")
    assert r.question[0] == "WwW.ExAmPlE.NeT."
    assert r.answer[0][0] == "WwW.ExAmPlE.NeT."  # the owner points into the question
    assert r.answer[0][4] == "192.0.2.1"
    r = dig(server.port, "+norec", "NoPe.ExAmPlE.NeT", "A")
    assert r.authority[0][0] == "ExAmPlE.NeT."


def test_edns_is_echoed_with_our_size(server: ServedDns) -> None:
    r = dig(server.port, "+norec", "+bufsize=4096", "www.example.net", "A")
    assert r.edns is not None
    assert "udp: 1232" in r.edns
    assert "do" not in r.edns.split("flags:")[1].split(";")[0]
    r = dig(server.port, "+norec", "+noedns", "www.example.net", "A")
    assert r.edns is None
    r = kdig(server.port, "+norec", "+bufsize=1400", "www.example.net", "A")
    assert r.edns is not None
    assert "UDP size: 1232 B" in r.edns


@pytest.mark.parametrize("tool", [dig, kdig])
def test_dnssec_ok_bit_is_copied(server: ServedDns, tool: object) -> None:
    r = tool(server.port, "+norec", "+dnssec", "nope.example.net", "A")  # type: ignore[operator]
    assert r.status == "NXDOMAIN"
    assert r.edns is not None
    assert "flags: do" in r.edns


def test_badvers_for_edns_version_1(server: ServedDns) -> None:
    r = dig(server.port, "+norec", "+edns=1", "+noednsnegotiation", "www.example.net", "A")
    assert r.status == "BADVERS"
    assert r.edns is not None
    assert "version: 0" in r.edns


@pytest.mark.parametrize("tool", [dig, kdig])
def test_truncated_then_tcp(server: ServedDns, tool: object) -> None:
    r = tool(server.port, "+norec", "big.example.net", "TXT")  # type: ignore[operator]
    assert "retrying" in r.text  # the tool saw TC=1 over UDP ...
    assert r.status == "NOERROR"  # ... and got everything over TCP
    assert sorted(rr[4] for rr in r.answer) == sorted(BIG_TXT)


def test_truncated_udp_reply_has_no_answers(server: ServedDns) -> None:
    for payload in (None, 1232, 4096):
        query = dns.message.make_query("big.example.net", "TXT", use_edns=payload is not None)
        if payload:
            query.use_edns(0, payload=payload)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(query.to_wire(), ("127.0.0.1", server.port))
            wire = sock.recv(65535)
        resp = dns.message.from_wire(wire)
        assert resp.flags & dns.flags.TC
        assert resp.answer == []
        assert len(wire) <= ((payload and min(payload, 1232)) or 512)


def test_soa_and_any(server: ServedDns) -> None:
    r = dig(server.port, "+norec", "example.net", "SOA")
    assert r.answer[0][3:5] == ["SOA", "ns1.example.net."]
    assert r.answer[0][1] == "3600"
    r = dig(server.port, "+norec", "+tcp", "www.example.net", "ANY")
    assert [rr[3] for rr in r.answer] == ["A"]  # RFC 8482 §4.1: one RRset


def test_serial_bump_and_new_data_visible_after_replace_name() -> None:
    with live_dns(make_catalog()) as live:
        before = dig(live.port, "home.example.net", "A")
        assert before.answer[0][4] == "198.51.100.7"
        live.call(
            lambda: live.catalog.replace_name(
                "example.net.",
                "home.example.net.",
                [
                    Record("home.example.net.", "A", 60, "198.51.100.8"),
                    Record("home.example.net.", "AAAA", 60, "2001:db8::8"),
                ],
                8,
            )
        )
        for transport in ((), ("+tcp",)):
            assert (
                dig(live.port, *transport, "home.example.net", "A").answer[0][4] == "198.51.100.8"
            )
            assert dig(live.port, *transport, "example.net", "SOA").answer[0][6] == "8"
            nx = dig(live.port, *transport, "nope.example.net", "A")
            assert nx.authority[0][6] == "8"
        assert kdig(live.port, "home.example.net", "AAAA").answer[0][4] == "2001:db8::8"
        live.call(lambda: live.catalog.replace_name("example.net.", "home.example.net.", [], 9))
        gone = dig(live.port, "home.example.net", "A")
        assert (gone.status, gone.authority[0][6]) == ("NXDOMAIN", "9")


def test_plain_recvfrom_loop_answers_too() -> None:
    with live_dns(make_catalog(), batch=False) as live:
        r = dig(live.port, "+norec", "www.example.net", "A")
        assert (r.status, r.answer[0][4]) == ("NOERROR", "192.0.2.1")
        assert dig(live.port, "nope.example.net", "A").status == "NXDOMAIN"


def test_rrl_limits_a_flood_from_one_client() -> None:
    with live_dns(make_catalog(), rrl=True) as live:
        sent = 2000
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            for i in range(sent):
                query = dns.message.make_query("www.example.net", "A", id=i)
                sock.sendto(query.to_wire(), ("127.0.0.1", live.port))
            sock.settimeout(1.0)
            replies = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    replies.append(dns.message.from_wire(sock.recv(4096)))
                except TimeoutError:
                    break
        full = [r for r in replies if not r.flags & dns.flags.TC]
        slipped = [r for r in replies if r.flags & dns.flags.TC]
        assert full
        assert all(r.answer for r in full)
        assert len(replies) < sent  # some dropped ...
        assert slipped
        assert not any(r.answer for r in slipped)
        assert live.server.stats.rate_limited > 0
        # TCP is never limited: a real client behind the flood still gets its answer.
        assert dig(live.port, "+tcp", "www.example.net", "A").answer[0][4] == "192.0.2.1"


def test_stats_count_by_rcode() -> None:
    with live_dns(make_catalog()) as live:
        dig(live.port, "www.example.net", "A")
        dig(live.port, "nope.example.net", "A")
        dig(live.port, "+tcp", "example.org", "A")
        counts = live.server.stats.by_rcode()
        assert counts["NOERROR"] >= 1
        assert counts["NXDOMAIN"] >= 1
        assert counts["REFUSED"] >= 1
        assert dns.rcode.to_text(dns.rcode.REFUSED) == "REFUSED"


def _udp(port: int, wire: bytes) -> dns.message.Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(wire, ("127.0.0.1", port))
        return dns.message.from_wire(sock.recv(4096))


def test_packet_cache_never_serves_old_data() -> None:
    with live_dns(make_catalog()) as live:
        query = dns.message.make_query("home.example.net", "A", id=1)
        for qid in range(1, 4):  # same bytes but the ID: answered from the cache
            query.id = qid
            resp = _udp(live.port, query.to_wire())
            assert (resp.id, resp.answer[0][0].address) == (qid, "198.51.100.7")
        live.call(
            lambda: live.catalog.replace_name(
                "example.net.",
                "home.example.net.",
                [Record("home.example.net.", "A", 60, "198.51.100.9")],
                8,
            )
        )
        query.id = 9
        assert _udp(live.port, query.to_wire()).answer[0][0].address == "198.51.100.9"


def test_packet_cache_starts_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    from homeport.io import dns_server

    monkeypatch.setattr(dns_server, "MAX_CACHED", 5)
    with live_dns(make_catalog()) as live:
        for _ in range(2):
            for i in range(20):
                resp = _udp(
                    live.port, dns.message.make_query(f"h{i}.wild.example.net", "A").to_wire()
                )
                assert resp.answer[0][0].address == "192.0.2.99"
        assert len(live.catalog.packet_cache()) <= 5


def test_packet_cache_keeps_lower_case_questions_only() -> None:
    """0x20-randomised questions never repeat byte for byte: they are answered, not cached."""
    with live_dns(make_catalog()) as live:
        for name in ("www.example.net", "WwW.eXaMpLe.NeT", "home.example.net", "HOME.example.net"):
            resp = _udp(live.port, dns.message.make_query(name, "A").to_wire())
            assert str(resp.answer[0].name).rstrip(".") == name
        cached = live.catalog.packet_cache()
        assert len(cached) == 2
        assert all(key == key.lower() for key in cached)
