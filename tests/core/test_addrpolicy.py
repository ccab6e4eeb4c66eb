"""One IPv6 address policy for the agent, the doctor and port mapping."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from homeport.core.addrpolicy import publishable_ipv6, unfit_reason
from homeport.proto import ifaddr
from homeport.proto.procnet import InterfaceAddress


def entry(
    address: str, flags: int = ifaddr.IFA_F_PERMANENT, scope: int = 0, name: str = "eth0"
) -> InterfaceAddress:
    return InterfaceAddress(IPv6Address(address), 2, 64, scope, flags, name)


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (entry("2001:db8::1"), None),
        (entry("2001:db8::1", flags=0), None),  # SLAAC-made (not permanent): still stable
        (entry("2001:db8::1", ifaddr.IFA_F_TEMPORARY), "temporary"),
        (entry("2001:db8::1", ifaddr.IFA_F_DEPRECATED), "deprecated"),
        (entry("2001:db8::1", ifaddr.IFA_F_TENTATIVE), "tentative"),
        (entry("2001:db8::1", ifaddr.IFA_F_OPTIMISTIC | ifaddr.IFA_F_TENTATIVE), "tentative"),
        (entry("2001:db8::1", ifaddr.IFA_F_DADFAILED | ifaddr.IFA_F_TENTATIVE), "duplicate"),
        (entry("fe80::1", scope=ifaddr.SCOPE_LINK), "scope"),
        (entry("::1", scope=ifaddr.SCOPE_HOST, name="lo"), "scope"),
        (entry("fd00::1"), "globally routed"),  # ULA: global scope, not routed
        (entry("2a00:1450:4001:80b::200e"), None),
    ],
)
def test_each_rule(candidate: InterfaceAddress, reason: str | None) -> None:
    found = unfit_reason(candidate)
    assert (found is None) if reason is None else (found is not None and reason in found)


def test_stable_only_in_the_kernels_order() -> None:
    table = [
        entry("2001:db8::99", ifaddr.IFA_F_TEMPORARY),
        entry("2001:db8::10"),
        entry("2001:db8::55", ifaddr.IFA_F_TENTATIVE),
        entry("2001:db8::11", flags=0),
        entry("2001:db8::22", name="eth1"),
        entry("2001:db8::33", name="lo"),
    ]
    addresses = [e.address for e in publishable_ipv6(table)]
    assert addresses == [IPv6Address(a) for a in ("2001:db8::10", "2001:db8::11", "2001:db8::22")]
    assert [e.address for e in publishable_ipv6(table, "eth1")] == [IPv6Address("2001:db8::22")]
    # Named explicitly, loopback is searched like any interface.
    assert [e.address for e in publishable_ipv6(table, "lo")] == [IPv6Address("2001:db8::33")]


def test_temporary_is_never_a_fallback() -> None:
    assert publishable_ipv6([entry("2001:db8::99", ifaddr.IFA_F_TEMPORARY)]) == []
