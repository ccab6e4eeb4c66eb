from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from homeport.io import routes

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t014DA8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t004DA8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
"""

IPV6_ROUTE = (
    "20010db8007700000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "20010db8007700000000000000000001 00000400 00000001 00000000 00000003 eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n"
)

IF_INET6 = (
    "00000000000000000000000000000001 01 80 10 80 lo\n"
    "fe800000000000000000000000000001 02 40 20 80 eth0\n"
    "20010db8007700000000000000000099 02 40 00 01 eth0\n"
    "20010db8007700000000000000000010 02 40 00 80 eth0\n"
    "20010db8007700000000000000000055 02 40 00 40 eth0\n"
)


def test_default_gateway_v4_lowest_metric() -> None:
    assert routes.parse_route_v4(ROUTE) == IPv4Address("192.168.77.1")
    assert routes.parse_route_v4(ROUTE.splitlines()[0]) is None


def test_default_gateway_v6() -> None:
    assert routes.parse_route_v6(IPV6_ROUTE) == IPv6Address("2001:db8:77::1")
    assert routes.parse_route_v6("") is None


def test_global_ipv6_addresses_skip_tentative_and_prefer_stable() -> None:
    assert routes.parse_if_inet6(IF_INET6) == [
        IPv6Address("2001:db8:77::10"),
        IPv6Address("2001:db8:77::99"),
    ]


def test_source_address_for_loopback_sends_nothing() -> None:
    assert routes.source_address("127.0.0.1") == "127.0.0.1"
