from __future__ import annotations

from ipaddress import ip_address

import pytest

from homeport.core.consensus import Answer, decide, default_require, unusable_reason

A = ip_address("203.0.113.7")
LIE = ip_address("198.51.100.66")


def test_liar_among_three_is_outvoted_and_named() -> None:
    verdict = decide(
        4, [Answer("a", A), Answer("liar", LIE), Answer("c", A)], require=default_require(3)
    )
    assert verdict.address == A
    assert verdict.dissenting == ("liar",)
    assert "liar" in verdict.reason


def test_disagreement_without_majority_publishes_nothing() -> None:
    verdict = decide(4, [Answer("a", A), Answer("b", LIE), Answer("c", None, "timeout")], require=2)
    assert verdict.address is None
    assert "disagree" in verdict.reason
    assert "203.0.113.7 from a" in verdict.reason
    assert "198.51.100.66 from b" in verdict.reason


def test_require_one_with_two_different_answers_is_still_a_disagreement() -> None:
    verdict = decide(4, [Answer("a", A), Answer("b", LIE)], require=1)
    assert verdict.address is None


def test_all_failing_says_so() -> None:
    verdict = decide(4, [Answer("a", None, "refused"), Answer("b", None, "timeout")], require=1)
    assert verdict.address is None
    assert "no source" in verdict.reason
    assert [a.error for a in verdict.answers] == ["refused", "timeout"]


def test_not_enough_agreement() -> None:
    verdict = decide(4, [Answer("a", A), Answer("b", None, "x"), Answer("c", None, "y")], require=2)
    assert verdict.address is None
    assert "2 must agree" in verdict.reason


@pytest.mark.parametrize(
    "text",
    [
        "0.0.0.0",
        "127.0.0.1",
        "169.254.1.1",
        "224.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.254",
        "::",
        "::1",
        "fe80::1",
        "ff02::1",
        "fd00::1",
        "fc00::1",
    ],
)
def test_unusable_addresses(text: str) -> None:
    address = ip_address(text)
    assert unusable_reason(address)
    verdict = decide(address.version, [Answer("a", address)], require=1)  # type: ignore[arg-type]
    assert verdict.address is None
    assert "rejected" in verdict.answers[0].error


@pytest.mark.parametrize(
    "text", ["192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1", "8.8.8.8", "2a00::1"]
)
def test_documentation_and_public_accepted(text: str) -> None:
    assert unusable_reason(ip_address(text)) == ""


def test_allow_private() -> None:
    private = ip_address("192.168.1.10")
    assert decide(4, [Answer("a", private)], require=1, allow_private=True).address == private
    assert unusable_reason(ip_address("127.0.0.1"), allow_private=True)


def test_wrong_family_is_a_failure() -> None:
    verdict = decide(6, [Answer("a", A)], require=1)
    assert verdict.address is None
