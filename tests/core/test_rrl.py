from __future__ import annotations

import pytest

from homeport.core.rrl import (
    ResponseRateLimiter,
    RrlConfig,
    Verdict,
    client_network,
    network_of_sockaddr,
)


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
