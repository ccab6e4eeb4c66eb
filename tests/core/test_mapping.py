from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from homeport.core import mapping as m
from homeport.core.mapping import EpochSample, NatEvidence, Refusal, nat_verdict


def test_renew_at_half_the_lease() -> None:
    assert m.renew_at(100.0, 3600) == 1900.0
    assert m.renew_at(0.0, 4) == 2.0
    assert m.renew_at(0.0, 1) == m.MIN_RENEW_INTERVAL  # never spin on tiny leases
    assert m.renew_at(10.0, 0) == 10.0 + m.CHECK_INTERVAL  # "permanent": check, do not renew


def test_retry_backoff_doubles_and_caps() -> None:
    assert [m.retry_delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert m.retry_delay(50) == m.RETRY_MAX


def test_natpmp_epoch_rules() -> None:
    first = EpochSample(epoch=1000, at=50.0)
    assert not m.natpmp_lost_state(None, first)
    assert not m.natpmp_lost_state(first, EpochSample(1100, 150.0))  # in step
    assert not m.natpmp_lost_state(first, EpochSample(1086, 150.0))  # 7/8 slack
    assert m.natpmp_lost_state(first, EpochSample(5, 150.0))  # rebooted
    assert m.natpmp_lost_state(first, EpochSample(1050, 150.0))  # lost half the time


def test_pcp_epoch_rules() -> None:
    first = EpochSample(epoch=1000, at=50.0)
    assert not m.pcp_lost_state(None, first)
    assert not m.pcp_lost_state(first, EpochSample(1100, 150.0))
    assert m.pcp_lost_state(first, EpochSample(990, 51.0))  # backwards
    assert m.pcp_lost_state(first, EpochSample(1010, 150.0))  # server clock lags ours
    assert m.pcp_lost_state(first, EpochSample(1500, 150.0))  # server clock races ahead


@pytest.mark.parametrize(
    ("evidence", "kind"),
    [
        (NatEvidence(router_external_ip=IPv4Address("100.64.3.4")), "cgnat"),
        (NatEvidence(router_external_ip=IPv4Address("192.168.0.2")), "double-nat"),
        (NatEvidence(router_external_ip=IPv4Address("10.1.2.3"), granted=("upnp",)), "double-nat"),
        (
            NatEvidence(
                router_external_ip=IPv4Address("198.51.100.7"),
                observed_public_ip=IPv4Address("198.51.100.9"),
                granted=("upnp",),
            ),
            "cgnat",
        ),
        (
            # miniupnpd behind CGNAT: reports the carrier's address, refuses everything.
            NatEvidence(
                router_external_ip=IPv4Address("203.0.113.2"),
                answered=("pcp", "natpmp", "upnp"),
                refusals=(Refusal("pcp", 8), Refusal("natpmp", 3), Refusal("upnp", 501)),
            ),
            "cgnat",
        ),
        (NatEvidence(answered=("upnp",), refusals=(Refusal("upnp", 718),)), "unknown"),
        (NatEvidence(answered=("natpmp", "upnp"), refusals=(Refusal("natpmp", 3),)), "unknown"),
        (NatEvidence(router_external_ip=IPv4Address("203.0.113.2"), granted=("pcp",)), "ok"),
        (NatEvidence(), "unknown"),
    ],
)
def test_nat_verdict(evidence: NatEvidence, kind: str) -> None:
    assert nat_verdict(evidence).kind == kind


def test_explanation_names_the_cause_and_the_way_out() -> None:
    verdict = nat_verdict(NatEvidence(answered=("upnp",), refusals=(Refusal("upnp", 501),)))
    assert not verdict.mapping_possible
    text = verdict.explanation()
    assert "CGNAT" in text
    assert "double NAT" in text
    assert "upnp 501" in text
    for way_out in ("IPv6", "tunnel", "VPS"):
        assert way_out in text
    assert nat_verdict(NatEvidence(granted=("pcp",))).mapping_possible
