"""io.routes only reads the kernel's tables (proto.procnet parses them): read real files."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from homeport.errors import TransportError
from homeport.io import routes
from tests.proto.test_procnet import IF_INET6, IPV6_ROUTE, ROUTE


def test_reads_the_tables_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(ROUTE)
    (tmp_path / "ipv6_route").write_text(IPV6_ROUTE)
    (tmp_path / "if_inet6").write_text(IF_INET6)
    assert routes.default_gateway_v4(str(tmp_path / "route")) == IPv4Address("192.168.77.1")
    assert routes.default_route_v6(str(tmp_path / "ipv6_route")) == (
        IPv6Address("2001:db8:77::1"),
        "eth0",
    )
    found = routes.interface_addresses_v6(str(tmp_path / "if_inet6"))
    assert [e.address for e in found][:2] == [IPv6Address("::1"), IPv6Address("fe80::1")]


def test_a_missing_routing_table_is_no_route(tmp_path: Path) -> None:
    assert routes.default_gateway_v4(str(tmp_path / "absent")) is None
    assert routes.default_route_v6(str(tmp_path / "absent")) is None


def test_a_missing_address_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot read"):
        routes.interface_addresses_v6(str(tmp_path / "absent"))


def test_reads_the_kernels_own_table() -> None:
    if not Path(routes.IF_INET6).exists():
        pytest.skip("IPv6 is disabled in this kernel")
    loopback = [e for e in routes.interface_addresses_v6() if e.name == "lo"]
    assert [e.address for e in loopback] == [IPv6Address("::1")]


def test_source_address_for_loopback_sends_nothing() -> None:
    assert routes.source_address("127.0.0.1") == "127.0.0.1"
