from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from homeport.core import doctor
from homeport.core.doctor import DnsEvidence, RouterEvidence, Verdict

LAN = IPv4Address("192.168.77.10")


def test_listening() -> None:
    assert doctor.judge_listening(888, [], LAN).verdict is Verdict.FAIL
    loopback = doctor.judge_listening(888, [IPv4Address("127.0.0.1")], LAN)
    assert loopback.verdict is Verdict.FAIL
    assert "0.0.0.0" in loopback.fix
    assert doctor.judge_listening(888, [IPv4Address("0.0.0.0")], LAN).verdict is Verdict.OK
    assert doctor.judge_listening(888, [LAN], LAN).verdict is Verdict.OK
    assert doctor.judge_listening(888, [IPv6Address("::")], LAN).verdict is Verdict.OK


def test_lan_address() -> None:
    assert doctor.judge_lan_address(LAN, dynamic=False, lease_seconds=None).verdict is Verdict.OK
    dhcp = doctor.judge_lan_address(LAN, dynamic=True, lease_seconds=3600)
    assert dhcp.verdict is Verdict.WARN
    assert "DHCP" in dhcp.evidence
    assert "Reserve" in dhcp.fix
    assert doctor.judge_lan_address(None, False, None).verdict is Verdict.FAIL


def test_router() -> None:
    none = RouterEvidence((), False, None, None)
    assert doctor.judge_router(888, LAN, none).verdict is Verdict.WARN
    missing = doctor.judge_router(888, LAN, RouterEvidence(("upnp",), False, None, None))
    assert missing.verdict is Verdict.FAIL
    assert "homeport map add 888" in missing.fix
    elsewhere = RouterEvidence(("natpmp",), True, IPv4Address("192.168.77.11"), 888)
    assert doctor.judge_router(888, LAN, elsewhere).verdict is Verdict.FAIL
    ok = doctor.judge_router(888, LAN, RouterEvidence(("upnp",), True, LAN, 888))
    assert ok.verdict is Verdict.OK


H1 = "192.168.77.1"


@pytest.mark.parametrize(
    ("external", "public", "hops", "router", "verdict", "kind"),
    [
        ("203.0.113.2", "203.0.113.2", [H1, "203.0.113.1"], "ok", Verdict.OK, None),
        # miniupnpd behind CGNAT learns the carrier's address by STUN and reports it,
        # then refuses every mapping: the router verdict and the next hop say CGNAT.
        ("203.0.113.2", "203.0.113.2", [H1, "100.64.0.1"], "cgnat", Verdict.FAIL, "cgnat"),
        ("203.0.113.2", "198.51.100.9", [H1], "ok", Verdict.FAIL, "cgnat"),
        # DMZ: mappings work, but another NAT sits upstream.
        ("203.0.113.2", "203.0.113.2", [H1, "100.64.0.1", None], "ok", Verdict.WARN, "double-nat"),
        ("203.0.113.2", "203.0.113.2", [H1, "192.168.1.1"], "ok", Verdict.WARN, "double-nat"),
        (None, None, [], None, Verdict.SKIPPED, None),
    ],
)
def test_nat(
    external: str | None,
    public: str | None,
    hops: list[str | None],
    router: str | None,
    verdict: Verdict,
    kind: str | None,
) -> None:
    check = doctor.judge_nat(
        doctor.parse_address(external),
        doctor.parse_address(public),
        [doctor.parse_address(h) for h in hops],
        router,
    )
    assert check.verdict is verdict, check
    assert check.details.get("kind") == kind
    if kind == "cgnat":
        assert "tunnel" in check.fix
        assert "IPv6" in check.fix


def test_dns() -> None:
    good = DnsEvidence("h.example", "A", {"192.0.2.53": ("203.0.113.2",)}, 60, 60)
    assert doctor.judge_dns(good, ip_address("203.0.113.2")).verdict is Verdict.OK
    stale = doctor.judge_dns(good, ip_address("203.0.113.9"))
    assert stale.verdict is Verdict.FAIL
    assert "60 s" in stale.evidence
    silent = DnsEvidence("h.example", "A", {"192.0.2.53": None}, None, None)
    assert doctor.judge_dns(silent, ip_address("203.0.113.2")).verdict is Verdict.FAIL
    assert (
        doctor.judge_dns(DnsEvidence("h.example", "A", {}, None, None), None).verdict
        is Verdict.FAIL
    )
    assert doctor.judge_dns(good, None).verdict is Verdict.SKIPPED


def test_reachable() -> None:
    assert doctor.judge_reachable(888, "IPv4", True, None, True, True).verdict is Verdict.OK
    filtered = doctor.judge_reachable(888, "IPv4", False, "timeout", True, True)
    assert filtered.verdict is Verdict.FAIL
    assert "firewall" in filtered.fix
    refused = doctor.judge_reachable(888, "IPv4", False, "refused", False, True)
    assert "homeport map add" in refused.fix
    assert (
        doctor.judge_reachable(888, "IPv6", None, "no IPv6", False, True).verdict is Verdict.SKIPPED
    )


def test_tls() -> None:
    assert doctor.judge_tls("a.example", ["a.example"], 80, None).verdict is Verdict.OK
    assert doctor.judge_tls("a.example", ["*.example"], 80, None).verdict is Verdict.OK
    assert doctor.judge_tls("b.a.example", ["*.example"], 80, None).verdict is Verdict.FAIL
    assert doctor.judge_tls("a.example", ["a.example"], 5, None).verdict is Verdict.WARN
    assert doctor.judge_tls("a.example", ["a.example"], -1, None).verdict is Verdict.FAIL
    assert (
        doctor.judge_tls("a.example", [], None, "tls: self-signed certificate").verdict
        is Verdict.FAIL
    )


def test_worst_and_exit_code() -> None:
    checks = [
        doctor.Check("listening", Verdict.OK, ""),
        doctor.Check("dns", Verdict.SKIPPED, ""),
    ]
    assert doctor.exit_code(checks) == 0
    checks.append(doctor.Check("nat", Verdict.WARN, ""))
    assert doctor.exit_code(checks) == 1
    checks.append(doctor.Check("router", Verdict.FAIL, ""))
    assert doctor.worst(checks) is Verdict.FAIL
    assert doctor.exit_code(checks) == 2


def test_each_verdict_shows_why_evidence_is_missing() -> None:
    """A gather step's failure reaches the user with its reason, never as a bare "unknown"."""
    refused = doctor.Unavailable("checkip over IPv4 at http://192.0.2.1: connection refused")
    nat = doctor.judge_nat(None, refused)
    assert nat.verdict is Verdict.SKIPPED
    assert "connection refused" in nat.evidence
    dns_ev = DnsEvidence("h.example.net", "A", {"192.0.2.53:53": ("192.0.2.1",)}, 60, 60)
    skipped = doctor.judge_dns(dns_ev, refused)
    assert skipped.verdict is Verdict.SKIPPED
    assert "connection refused" in skipped.evidence
    silent = DnsEvidence(
        "h.example.net", "A", {}, None, None, (doctor.Unavailable("no answer within 2 s"),)
    )
    assert "no answer within 2 s" in doctor.judge_dns(silent, None).evidence
    no_gateway = RouterEvidence((), False, None, None, failure=doctor.Unavailable("no gateway"))
    assert "no gateway" in doctor.judge_router(888, LAN, no_gateway).evidence


def test_lan_address_shows_why_it_is_unknown() -> None:
    no_route = doctor.Unavailable("no route to 10.9.9.9: [Errno 101] Network is unreachable")
    check = doctor.judge_lan_address(no_route, False, None)
    assert check.verdict is Verdict.FAIL
    assert "Network is unreachable" in check.evidence
    assert "with a default route" in doctor.judge_lan_address(None, False, None).evidence
