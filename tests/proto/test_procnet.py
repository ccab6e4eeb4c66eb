from __future__ import annotations

import os
import socket
import subprocess
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from homeport.proto import ifaddr, procnet
from homeport.proto.procnet import InterfaceAddress
from tests.helpers import network_namespace

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0378 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0
   2: 0100007F:0378 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0
"""
TCP6 = """\
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0378 00000000000000000000000000000000:0000 0A
   1: B80D0120000000000000000010000000:0378 00000000000000000000000000000000:0000 0A
"""


def test_vectors() -> None:
    assert procnet.listening(TCP, 888) == [IPv4Address("127.0.0.1")]
    assert procnet.listening(TCP, 22) == [IPv4Address("0.0.0.0")]
    assert procnet.listening(TCP, 80) == []
    assert procnet.listening(TCP6, 888) == [IPv6Address("::"), IPv6Address("2001:db8::10")]


def test_against_the_kernel() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        text = Path("/proc/net/tcp").read_text()
        assert IPv4Address("127.0.0.1") in procnet.listening(text, port)
    assert IPv4Address("127.0.0.1") not in procnet.listening(
        Path("/proc/net/tcp").read_text(), port
    )


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
    "00000000000000000000000000000001 01 80 10 80       lo\n"
    "fe800000000000000000000000000001 02 40 20 80     eth0\n"
    "20010db8007700000000000000000099 02 40 00 01     eth0\n"
    "20010db8007700000000000000000010 1a2 38 00 80 enp0s31f6\n"
    "not an address 02 40 00 80 eth0\n"
    "20010db8007700000000000000000055 02 40 00 40\n"
)


def test_default_gateway_v4_lowest_metric() -> None:
    assert procnet.default_gateway_v4(ROUTE) == IPv4Address("192.168.77.1")
    assert procnet.default_gateway_v4(ROUTE.splitlines()[0]) is None


def test_default_route_v6_skips_lo() -> None:
    assert procnet.default_route_v6(IPV6_ROUTE) == (IPv6Address("2001:db8:77::1"), "eth0")
    assert procnet.default_route_v6(IPV6_ROUTE.splitlines()[2]) is None
    assert procnet.default_route_v6("") is None


def test_if_inet6_records_every_field() -> None:
    assert procnet.if_inet6(IF_INET6) == [
        InterfaceAddress(IPv6Address("::1"), 1, 128, ifaddr.SCOPE_HOST, 0x80, "lo"),
        InterfaceAddress(IPv6Address("fe80::1"), 2, 64, ifaddr.SCOPE_LINK, 0x80, "eth0"),
        InterfaceAddress(IPv6Address("2001:db8:77::99"), 2, 64, 0, ifaddr.IFA_F_TEMPORARY, "eth0"),
        # ifindex past 0xff prints more than two digits; names are up to 15 characters.
        InterfaceAddress(IPv6Address("2001:db8:77::10"), 0x1A2, 56, 0, 0x80, "enp0s31f6"),
    ]  # malformed lines (a bad address, a missing field) are skipped


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_the_kernels_flags_as_read() -> None:
    """The flags the policy relies on, as the kernel prints them: permanent, deprecated
    (preferred_lft 0), tentative (DAD cannot run while the link is down), and that
    mngtmpaddr (0x100) never shows: /proc prints the low byte only."""
    with network_namespace("hp-procnet") as ns:
        _ip("-n", ns, "link", "add", "hp0", "type", "veth", "peer", "name", "hp1")
        _ip("-n", ns, "-6", "addr", "add", "2001:db8:1::10/64", "dev", "hp0", "mngtmpaddr")
        _ip("-n", ns, "-6", "addr", "add", "2001:db8:1::20/64", "dev", "hp0", "preferred_lft", "0")
        text = subprocess.run(
            ["ip", "netns", "exec", ns, "cat", "/proc/net/if_inet6"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    flags = {e.address: e.flags for e in procnet.if_inet6(text) if e.name == "hp0"}
    assert flags[IPv6Address("2001:db8:1::10")] == ifaddr.IFA_F_PERMANENT | ifaddr.IFA_F_TENTATIVE
    assert flags[IPv6Address("2001:db8:1::20")] == (
        ifaddr.IFA_F_PERMANENT | ifaddr.IFA_F_TENTATIVE | ifaddr.IFA_F_DEPRECATED
    )
