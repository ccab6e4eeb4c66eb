from __future__ import annotations

import dns.message
import pytest

from homeport.core.rrl import (
    ERROR,
    NXDOMAIN,
    REFERRAL,
    ResponseRateLimiter,
    RrlConfig,
    Verdict,
    client_network,
    network_of_sockaddr,
    response_key,
)
from homeport.core.zone import Catalog, Record, Soa


def test_networks() -> None:
    assert client_network("192.0.2.1") == client_network("192.0.2.254") == bytes([192, 0, 2])
    assert client_network("192.0.3.1") != client_network("192.0.2.1")
    assert client_network("2001:db8:0:ff::1") == client_network("2001:db8:0:1::2")  # same /56
    assert client_network("2001:db8:0:100::1") != client_network("2001:db8::1")
    assert client_network("::ffff:192.0.2.9") == client_network("192.0.2.1")


def test_sockaddr_networks() -> None:
    v4 = b"\x02\x00\x00\x35" + bytes([192, 0, 2, 1]) + bytes(8)
    assert network_of_sockaddr(v4) == client_network("192.0.2.1")
    v6 = b"\x0a\x00\x00\x35" + bytes(4) + bytes.fromhex("20010db8000000ff" + "00" * 7 + "01")
    assert network_of_sockaddr(v6) == client_network("2001:db8:0:ff::1")


def test_burst_then_limited_then_refilled() -> None:
    rrl = ResponseRateLimiter(RrlConfig(responses_per_second=10, burst=5, slip=2))
    net = client_network("192.0.2.1")
    verdicts = [rrl.check(net, 100.0) for _ in range(20)]
    assert verdicts[:15] == [Verdict.SEND] * 15  # rate + burst
    # slip=2: every second limited response is a TC=1 reply, the others dropped
    assert verdicts[15:] == [Verdict.DROP, Verdict.SLIP, Verdict.DROP, Verdict.SLIP, Verdict.DROP]
    assert rrl.check(net, 100.05) == Verdict.SLIP  # half a token: still limited
    assert rrl.check(net, 100.2) == Verdict.SEND  # refilled at 10/s
    other = client_network("198.51.100.1")
    assert rrl.check(other, 100.2) == Verdict.SEND  # other networks unaffected


def test_slip_zero_drops_everything_limited() -> None:
    rrl = ResponseRateLimiter(RrlConfig(responses_per_second=1, burst=0, slip=0))
    net = client_network("192.0.2.1")
    assert rrl.check(net, 0.0) == Verdict.SEND
    assert [rrl.check(net, 0.0) for _ in range(4)] == [Verdict.DROP] * 4


@pytest.mark.parametrize("spread", [False, True])
def test_table_stays_bounded(spread: bool) -> None:
    rrl = ResponseRateLimiter(RrlConfig(max_clients=100))
    for i in range(1000):
        now = float(i) if spread else 0.0
        rrl.check(bytes([10, i // 256, i % 256]), now)
    assert len(rrl) <= 100


def _responses() -> Catalog:
    soa = Soa("ns1.example.net.", "hostmaster.example.net.", 1, 3600, 600, 86400, 60, 3600)
    catalog = Catalog()
    catalog.load_zone(
        "example.net.",
        soa,
        [
            Record("example.net.", "NS", 60, "ns1.example.net."),
            Record("ns1.example.net.", "A", 60, "192.0.2.53"),
            Record("www.example.net.", "A", 60, "192.0.2.1"),
            Record("sub.example.net.", "NS", 60, "ns.sub.example.net."),
            Record("ns.sub.example.net.", "A", 60, "192.0.2.77"),
        ],
    )
    return catalog


def _key(catalog: Catalog, name: str, rdtype: str = "A", net: bytes = b"\xc0\x00\x02") -> bytes:
    resp = catalog.respond(dns.message.make_query(name, rdtype).to_wire(), tcp=False)
    assert resp is not None
    return response_key(net, resp)


def test_identical_responses_share_a_bucket_and_others_do_not() -> None:
    c = _responses()
    www = _key(c, "www.example.net.")
    assert www == _key(c, "WwW.ExAmple.NET.")  # 0x20 case: same bucket
    assert www != _key(c, "www.example.net.", "AAAA")  # NODATA: another kind
    assert www != _key(c, "ns1.example.net.")
    assert www != _key(c, "www.example.net.", net=b"\xc6\x33\x64")  # another network
    # NXDOMAIN: one bucket per zone, whatever the (random) name
    nx = _key(c, "a1b2c3.example.net.")
    assert nx == _key(c, "zz9.example.net.") == _key(c, "x.y.EXAMPLE.net.")
    assert nx.startswith(b"\xc0\x00\x02" + NXDOMAIN)
    assert nx.endswith(b"\x07example\x03net\x00")
    assert nx != www
    # NODATA likewise per zone; referrals per delegation point; errors per network
    assert _key(c, "www.example.net.", "TXT") == _key(c, "ns1.example.net.", "MX")
    ref = _key(c, "a.sub.example.net.")
    assert ref == _key(c, "b.c.sub.example.net.")
    assert ref.startswith(b"\xc0\x00\x02" + REFERRAL)
    assert ref.endswith(b"\x03sub\x07example\x03net\x00")
    assert _key(c, "www.example.org.") == b"\xc0\x00\x02" + ERROR  # REFUSED
    assert _key(c, "www.example.com.") == _key(c, "www.example.org.")


def test_a_neighbours_nxdomain_flood_leaves_other_answers_alone() -> None:
    c = _responses()
    rrl = ResponseRateLimiter(RrlConfig(responses_per_second=10, burst=5, slip=2))
    net = client_network("192.0.2.1")  # the flooder and the victim share the /24
    flood = [rrl.check(_key(c, f"r{i}.example.net.", net=net), 100.0) for i in range(100)]
    assert flood.count(Verdict.SEND) == 15
    assert rrl.check(_key(c, "www.example.net.", net=net), 100.0) == Verdict.SEND
