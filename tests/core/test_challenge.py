"""Which host a challenge name belongs to, and which values are accepted."""

from __future__ import annotations

import pytest

from homeport.core.challenge import challenge_name, owner_host, value_problem

HOSTS = ["a.dyn.example.net.", "b.a.dyn.example.net.", "c.dyn.example.net."]


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("_acme-challenge.a.dyn.example.net.", "a.dyn.example.net."),
        ("_ACME-Challenge.A.dyn.example.net.", "a.dyn.example.net."),
        ("_acme-challenge.www.a.dyn.example.net.", "a.dyn.example.net."),
        ("_acme-challenge.x.y.a.dyn.example.net.", "a.dyn.example.net."),
        # A host below another is its own: a.'s key never reaches b.a.'s challenge.
        ("_acme-challenge.b.a.dyn.example.net.", "b.a.dyn.example.net."),
        ("_acme-challenge.www.b.a.dyn.example.net.", "b.a.dyn.example.net."),
        ("_acme-challenge.c.dyn.example.net.", "c.dyn.example.net."),
        ("_acme-challenge.dyn.example.net.", None),  # the zone apex is nobody's
        ("_acme-challenge.zz.dyn.example.net.", None),
        ("a.dyn.example.net.", None),
        ("www._acme-challenge.a.dyn.example.net.", None),
        ("_acme-challenge._acme-challenge.a.dyn.example.net.", None),
        ("_acme-challenge.a.dyn.example.net", None),  # relative
        ("_acme-challenge.", None),
        ("_acme-challengex.a.dyn.example.net.", None),
        ("_acme-challenge.x\ny.a.dyn.example.net.", None),  # no log forging through a name
        ("_acme-challenge.x\\010y.a.dyn.example.net.", None),
        ("_acme-challenge." + "x." * 120 + "a.dyn.example.net.", None),
    ],
)
def test_owner_host(name: str, owner: str | None) -> None:
    assert owner_host(name, HOSTS) == owner


def test_values() -> None:
    assert value_problem("a" * 43) is None
    assert value_problem("Zm9v-_") is None
    for bad in ("", "a" * 256, "a b", 'a"b', "a\\b", "ä", "a=", "a;b"):
        assert value_problem(bad) is not None, bad


def test_challenge_name() -> None:
    assert challenge_name("Home.Example.NET") == "_acme-challenge.home.example.net."
    assert challenge_name("home.example.net.") == "_acme-challenge.home.example.net."
