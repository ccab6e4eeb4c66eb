"""The admin operations the ``homeport server`` commands call, in-process (the commands
themselves, as processes, are tested in test_admin.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.errors import NotFoundError, UsageError
from homeport.server import admin, auth
from homeport.server.store import Store


@pytest.mark.parametrize(
    ("name", "absolute"),
    [("Pi.Dyn.Example.NET", "pi.dyn.example.net."), ("a.b.", "a.b."), (" x.y ", "x.y.")],
)
def test_absolute(name: str, absolute: str) -> None:
    assert admin.absolute(name) == absolute


@pytest.mark.parametrize("name", ["", ".", "lan", "-a.b", "a..b", "a b.c", "x" * 64 + ".b"])
def test_absolute_refuses(name: str) -> None:
    with pytest.raises(UsageError):
        admin.absolute(name)


def test_zone_origin_takes_one_label() -> None:
    assert admin.zone_origin("LAN") == "lan."


def test_zone_for_picks_the_most_specific() -> None:
    zones = ["example.net.", "dyn.example.net."]
    assert admin.zone_for(zones, "a.dyn.example.net.") == "dyn.example.net."
    assert admin.zone_for(zones, "a.example.net.") == "example.net."
    with pytest.raises(NotFoundError):
        admin.zone_for(zones, "a.example.org.")


@pytest.mark.parametrize("name", ["", "a:b", "a b", "a\tb", "x" * 65, "bell\x07"])
def test_user_names_refused(name: str) -> None:
    with pytest.raises(UsageError):
        admin.check_user_name(name)


def test_passwords() -> None:
    admin.check_password("8 chars!")
    with pytest.raises(UsageError, match="at least 8"):
        admin.check_password("7 chars")


@pytest.mark.parametrize(
    ("ns", "error"),
    [
        (["ns1.dyn.example.net=300.1.1.1"], "is not an IP address"),
        (["ns1.elsewhere.net=192.0.2.53"], "glue only for names inside"),
        (["ns1.dyn.example.net=224.0.0.1"], "multicast"),
        (["bad name"], "not a valid name"),
    ],
)
def test_ns_refused(ns: list[str], error: str) -> None:
    with pytest.raises(UsageError, match=error):
        admin.parse_ns("dyn.example.net.", ns, 3600)


def test_ns_with_glue() -> None:
    names, records = admin.parse_ns("dyn.example.net.", ["ns1.dyn.example.net=2001:db8::53"], 60)
    assert names == ["ns1.dyn.example.net."]
    assert [(r.name, r.rdtype, r.rdata) for r in records] == [
        ("dyn.example.net.", "NS", "ns1.dyn.example.net."),
        ("ns1.dyn.example.net.", "AAAA", "2001:db8::53"),
    ]


def test_a_zone_a_user_and_their_host(tmp_path: Path) -> None:
    asyncio.run(_zone_user_host(tmp_path))


async def _zone_user_host(tmp_path: Path) -> None:
    store = await Store.open(tmp_path, announce=True)
    try:
        soa = await admin.add_zone(store, "dyn.example.net.", [], 60)
        assert soa.mname == "ns1.dyn.example.net."
        with pytest.raises(UsageError, match="zone apex"):
            await admin.add_host(store, "dyn.example.net.", None)
        with pytest.raises(NotFoundError, match="no user bob"):
            await admin.add_host(store, "pi.dyn.example.net.", "bob")
        token = await admin.add_user(store, "bob", "long password")
        secret = await admin.add_host(store, "pi.dyn.example.net.", "bob")
        (host,) = await admin.hosts(store)
        assert host.secret_sha256 == auth.sha256_hex(secret)
        assert host.owner == "bob"
        (summary,) = await admin.users(store)
        assert (summary.user.name, summary.hosts) == ("bob", 1)
        assert summary.user.token_sha256 == auth.sha256_hex(token)
        rotated = await admin.rotate_secret(store, "pi.dyn.example.net.")
        assert rotated != secret
        entries = await admin.audit_log(store, 10)
        assert [(e.actor, e.action) for e in entries] == [
            ("admin", "host rotate"),
            ("admin", "host add"),
            ("admin", "user add"),
            ("admin", "zone add"),
        ]
    finally:
        await store.close()


def test_the_demo_is_made_once(tmp_path: Path) -> None:
    asyncio.run(_demo(tmp_path))


async def _demo(tmp_path: Path) -> None:
    store = await Store.open(tmp_path, announce=True)
    try:
        first = await admin.ensure_demo(store)
        assert await admin.ensure_demo(store) == first
        assert first[0] == admin.DEMO_HOST
        assert [z.origin for z in await admin.zones(store)] == [admin.DEMO_ZONE]
        assert ((tmp_path / admin.DEMO_SECRET_FILE).stat().st_mode & 0o777) == 0o600
    finally:
        await store.close()
