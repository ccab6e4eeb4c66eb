"""DNS cookies: SipHash-2-4 and RFC 9018 vectors; the option in and out, dnspython as oracle."""

from __future__ import annotations

import ipaddress

import dns.edns
import dns.message
import dns.rcode
import pytest

from homeport.proto import dns_answer as da
from homeport.proto import dns_cookie as dc

from .test_dns_answer import ask

# RFC 9018 Appendix A
SECRET = bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf")
CLIENT_A1 = bytes.fromhex("2464c4abcf10c957")
IP_A1 = ipaddress.ip_address("198.51.100.100").packed
T_A1 = 1559731985
SERVER_A1 = bytes.fromhex("010000005cf79f111f8130c3eee29480")


def test_siphash24_vectors() -> None:
    # The SipHash paper, Appendix A: key 00..0f, message 00..0e; and the empty message.
    key = bytes(range(16))
    assert dc.siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5
    assert dc.siphash24(key, b"") == 0x726FDB47DD0E0E31


@pytest.mark.parametrize(
    ("client", "ip", "at", "want"),
    [
        (CLIENT_A1, "198.51.100.100", T_A1, SERVER_A1),
        (CLIENT_A1, "198.51.100.100", 1559734385, "010000005cf7a871d4a564a1442aca77"),
        ("fc93fc62807ddb86", "203.0.113.203", 1559734700, "010000005cf7a9acf73a7810aca2381e"),
    ],
)
def test_rfc9018_server_cookies(client: bytes | str, ip: str, at: int, want: bytes | str) -> None:
    client_b = bytes.fromhex(client) if isinstance(client, str) else client
    want_b = bytes.fromhex(want) if isinstance(want, str) else want
    packed = ipaddress.ip_address(ip).packed
    assert dc.server_cookie(client_b, packed, at, SECRET) == want_b


def test_verify() -> None:
    good = CLIENT_A1 + SERVER_A1
    assert dc.verify(CLIENT_A1, IP_A1, T_A1, SECRET) == (dc.Status.CLIENT_ONLY, good)
    assert dc.verify(good, IP_A1, T_A1 + 60, SECRET) == (dc.Status.VALID, good)  # echoed
    # RFC 9018 §4.3: renewed after half an hour, invalid after an hour or 5 min ahead
    status, reply = dc.verify(good, IP_A1, T_A1 + 2400, SECRET)
    assert status is dc.Status.VALID
    assert reply == CLIENT_A1 + bytes.fromhex("010000005cf7a871d4a564a1442aca77")
    assert dc.verify(good, IP_A1, T_A1 + 3601, SECRET)[0] is dc.Status.CLIENT_ONLY
    assert dc.verify(good, IP_A1, T_A1 - 299, SECRET)[0] is dc.Status.VALID
    assert dc.verify(good, IP_A1, T_A1 - 301, SECRET)[0] is dc.Status.CLIENT_ONLY
    other_ip = ipaddress.ip_address("198.51.100.101").packed
    assert dc.verify(good, other_ip, T_A1, SECRET)[0] is dc.Status.CLIENT_ONLY
    forged = good[:-1] + bytes([good[-1] ^ 1])
    assert dc.verify(forged, IP_A1, T_A1, SECRET) == (dc.Status.CLIENT_ONLY, good)
    # RFC 7873 §5.2.2: client cookie 8 bytes, server cookie 8 to 32
    for size in (0, 1, 7, 9, 15, 41, 60):
        assert dc.verify(bytes(size), IP_A1, T_A1, SECRET) == (dc.Status.MALFORMED, b"")
    for size in (16, 20, 40):  # well formed, not ours: learn ours
        assert dc.verify(bytes(size), IP_A1, T_A1, SECRET)[0] is dc.Status.CLIENT_ONLY


def test_jar_remembers_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    jar = dc.CookieJar(SECRET)
    good = CLIENT_A1 + SERVER_A1
    assert jar.check(good, IP_A1, T_A1) == (dc.Status.VALID, good)
    calls = []
    monkeypatch.setattr(dc, "verify", lambda *a: calls.append(a) or (dc.Status.VALID, good))
    assert jar.check(good, IP_A1, T_A1 + 10) == (dc.Status.VALID, good)
    assert not calls  # remembered
    jar.check(good, IP_A1, T_A1 + dc.RENEW_AFTER)  # due for renewal: judged again
    assert len(calls) == 1
    monkeypatch.setattr(dc, "MAX_REMEMBERED", 5)
    for i in range(20):
        jar.check(bytes([i]) * 8, IP_A1, T_A1)
    assert len(jar._seen) <= 5
    with pytest.raises(ValueError, match="16 bytes"):
        dc.CookieJar(b"short")


def _query(cookie: bytes | None, **kw: object) -> bytes:
    options = [dns.edns.GenericOption(dns.edns.COOKIE, cookie)] if cookie is not None else []
    return dns.message.make_query(
        "www.example.net.", "A", use_edns=0, options=options, **kw
    ).to_wire()  # type: ignore[arg-type]


def test_find() -> None:
    assert dc.find(_query(CLIENT_A1)) == CLIENT_A1
    assert dc.find(_query(CLIENT_A1 + SERVER_A1)) == CLIENT_A1 + SERVER_A1
    assert dc.find(_query(b"\x01\x02")) == b"\x01\x02"  # malformed: found, judged later
    assert dc.find(_query(None)) is None
    no_edns = dns.message.make_query("www.example.net.", "A").to_wire()
    assert dc.find(no_edns) is None
    # RFC 7873 §5.2: the first COOKIE option counts
    two = dns.message.make_query(
        "www.example.net.",
        "A",
        use_edns=0,
        options=[
            dns.edns.GenericOption(dns.edns.NSID, b""),
            dns.edns.GenericOption(dns.edns.COOKIE, CLIENT_A1),
            dns.edns.GenericOption(dns.edns.COOKIE, bytes(8)),
        ],
    ).to_wire()
    assert dc.find(two) == CLIENT_A1
    assert dc.find(two[:-3]) is None  # cut short: not the shape we handle


def test_with_cookie_and_badcookie_parse() -> None:
    query = _query(CLIENT_A1, want_dnssec=True)
    resp = ask(query)
    assert resp is not None
    out = dns.message.from_wire(dc.with_cookie(resp, CLIENT_A1 + SERVER_A1, 1232))
    assert out.answer[0][0].address == "192.0.2.1"
    (opt,) = out.options
    assert (opt.otype, opt.to_wire()) == (dns.edns.COOKIE, CLIENT_A1 + SERVER_A1)
    assert out.ednsflags & dns.flags.DO
    # too big for the client's size: cut to the question, TC=1, cookie kept
    cut = dns.message.from_wire(dc.with_cookie(resp, CLIENT_A1 + SERVER_A1, len(resp)))
    assert cut.flags & dns.flags.TC
    assert not cut.answer
    assert cut.options[0].to_wire() == CLIENT_A1 + SERVER_A1
    # a response without an OPT is left alone
    plain = ask(dns.message.make_query("www.example.net.", "A"))
    assert plain is not None
    assert dc.with_cookie(plain, CLIENT_A1, 1232) == plain
    bad = dns.message.from_wire(dc.badcookie(resp, CLIENT_A1 + SERVER_A1))
    assert bad.rcode() == dns.rcode.BADCOOKIE
    assert not bad.answer
    assert bad.question == out.question
    assert bad.options[0].to_wire() == CLIENT_A1 + SERVER_A1
    assert bad.id == out.id


def test_formerr_and_udp_limit() -> None:
    query = _query(b"\x01\x02")
    err = dns.message.from_wire(dc.formerr(query))
    assert (err.rcode(), err.id) == (dns.rcode.FORMERR, int.from_bytes(query[:2], "big"))
    assert dc.udp_limit(_query(CLIENT_A1)) == da.EDNS_PAYLOAD  # dnspython asks 1232
    small = dns.message.make_query("www.example.net.", "A", use_edns=0, payload=100)
    assert dc.udp_limit(small.to_wire()) == da.MIN_UDP_SIZE
