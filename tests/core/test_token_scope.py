"""Scoped tokens' rules, pure: the form's fields to a scope, a request's parts to a verdict."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport.core.token_scope import MAX_DAYS, MAX_SUBNETS, TokenScope, make_scope
from homeport.core.units import DAY
from homeport.core.update_plan import Principal, UpdateIntent

OWN = ["a.dyn.example.net.", "b.dyn.example.net."]


class _Host:
    def __init__(self, fqdn: str, owner: str | None) -> None:
        self.fqdn = fqdn
        self.owner = owner


def test_a_scope_from_the_form() -> None:
    scope = make_scope([OWN[0]], OWN, ["A", "ACME"], "192.0.2.0/24, 2001:db8::/48", "30", 1000.0)
    assert scope.hosts == {OWN[0]}
    assert scope.types == {"A", "ACME"}
    assert [str(n) for n in scope.subnets] == ["192.0.2.0/24", "2001:db8::/48"]
    assert scope.expires == 1000.0 + 30 * DAY
    assert make_scope([], OWN, ["TXT"], "", "", 0.0) == TokenScope(types=frozenset({"TXT"}))


@pytest.mark.parametrize(
    ("hosts", "types", "subnets", "days", "message"),
    [
        (["c.dyn.example.net."], ["A"], "", "", "not one of this account"),
        ([], [], "", "", "at least one record type"),
        ([], ["MX"], "", "", "record types are"),
        ([], ["A"], "192.0.2.1/24", "", "is not a network"),
        ([], ["A"], "example.net", "", "is not a network"),
        ([], ["A"], " ".join(["192.0.2.0/24"] * (MAX_SUBNETS + 1)), "", "at most"),
        ([], ["A"], "", "0", "days must be"),
        ([], ["A"], "", str(MAX_DAYS + 1), "days must be"),
        ([], ["A"], "", "-1", "days must be"),
        ([], ["A"], "", "1.5", "days must be"),
        ([], ["A"], "", "٣", "days must be"),  # a digit, but not an ASCII one
    ],
)
def test_bad_forms_say_why(
    hosts: list[str], types: list[str], subnets: str, days: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_scope(hosts, OWN, types, subnets, days, 0.0)


def test_sources_and_expiry() -> None:
    scope = make_scope([], OWN, ["A"], "192.0.2.0/24 2001:db8::/32", "1", 0.0)
    assert scope.allows_source(IPv4Address("192.0.2.9"))
    assert scope.allows_source(IPv6Address("2001:db8::9"))
    assert not scope.allows_source(IPv4Address("198.51.100.1"))
    assert not scope.allows_source(IPv6Address("::ffff:192.0.2.9"))
    assert not scope.allows_source(None)  # unknown: not inside
    assert TokenScope().allows_source(None)
    assert not scope.expired(DAY - 1)
    assert scope.expired(DAY)
    assert not TokenScope().expired(1e12)


def test_a_token_principal_updates_its_hosts_with_its_types_only() -> None:
    scope = make_scope([OWN[0]], OWN, ["A", "TXT"], "", "", 0.0)
    token = Principal("token", "alice", scope, "ab12cd34")
    assert token.actor == "token:alice/ab12cd34"
    assert token.may_update(_Host(OWN[0], "alice"))
    assert not token.may_update(_Host(OWN[1], "alice"))  # not its host
    assert not token.may_update(_Host(OWN[0], "bob"))  # not the owner's any more
    v4 = UpdateIntent(OWN[0], token.actor, "x", ipv4=IPv4Address("192.0.2.1"))
    v6 = UpdateIntent(OWN[0], token.actor, "x", ipv6=IPv6Address("2001:db8::1"))
    txt = UpdateIntent(OWN[0], token.actor, "x", clear_txt=True)
    offline = UpdateIntent(OWN[0], token.actor, "x", offline=True)
    assert token.may_set(v4.types)
    assert token.may_set(txt.types)
    assert not token.may_set(v6.types)
    assert not token.may_set(offline.types)  # hides the AAAA record too
    assert not token.may_set({"ACME"})
    assert Principal("user", "alice").may_set({"A", "AAAA", "TXT", "ACME"})
