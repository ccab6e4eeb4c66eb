"""The store's contract, in-process, on both engines: SQLite in a directory and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import TypeVar

import pytest

from homeport.core.zone import Catalog, Record, Soa
from homeport.errors import ConflictError, NotFoundError
from homeport.server.service import DdnsService, UpdateIntent
from homeport.server.store import SERIAL_MODULUS, AuditEntry, HostRow, Store, UserRow
from tests.server.pg import pg_socket, pg_url  # noqa: F401 - fixtures

T = TypeVar("T")
ZONE = "dyn.example.net."
SOA = Soa(
    "ns1.dyn.example.net.", "hostmaster.dyn.example.net.", 2024010101, 3600, 600, 1209600, 60, 3600
)


def audit(action: str, subject: str) -> AuditEntry:
    return AuditEntry("test", action, subject, "", ts=time.time())


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def opener(tmp_path: Path, database: str | None) -> Callable[..., Awaitable[Store]]:
    async def open_store(*, announce: bool = False) -> Store:
        return await Store.open(tmp_path / "data", announce=announce, database=database)

    return open_store


def run(opener: Callable[..., Awaitable[Store]], work: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await opener()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


async def _with_zone(store: Store) -> None:
    await store.add_zone(
        ZONE,
        SOA,
        60,
        [
            Record(ZONE, "NS", 3600, "ns1.dyn.example.net."),
            Record("ns1.dyn.example.net.", "A", 3600, "192.0.2.53"),
        ],
        audit("zone add", ZONE),
    )


def test_zones_hosts_users_and_audit(opener: Callable[..., Awaitable[Store]]) -> None:
    async def work(store: Store) -> None:
        await _with_zone(store)
        with pytest.raises(ConflictError):
            await _with_zone(store)
        assert [z.origin for z in await store.zones()] == [ZONE]
        assert (await store.zone(ZONE)).soa == SOA
        assert [r.rdtype for r in await store.records(ZONE)] == ["NS", "A"]
        created = 1_700_000_000.123456
        host = HostRow("pi.dyn.example.net.", ZONE, None, "ab" * 32, created=created)
        await store.add_host(host, audit("host add", host.fqdn))
        with pytest.raises(ConflictError):
            await store.add_host(host, audit("host add", host.fqdn))
        assert await store.host(host.fqdn) == host  # a Unix time keeps its microseconds
        assert await store.host_by_secret("ab" * 32) == host
        user = UserRow("alice", "hash", "cd" * 32, created)
        await store.add_user(user, audit("user add", "alice"))
        assert await store.user_by_token("cd" * 32) == user
        await store.update_user(UserRow("alice", "hash2", None, created), audit("user pw", "a"))
        assert [u.password_hash for u in await store.users()] == ["hash2"]
        await store.remove_user("alice", audit("user rm", "alice"))
        with pytest.raises(NotFoundError):
            await store.remove_user("alice", audit("user rm", "alice"))
        await store.remove_host(host.fqdn, audit("host rm", host.fqdn))
        assert await store.hosts() == []
        assert (await store.zone(ZONE)).soa.serial == SOA.serial + 1
        actions = [e.action for e in await store.audit_log(3)]
        assert actions == ["host rm", "user rm", "user pw"]
        await store.remove_zone(ZONE, audit("zone rm", ZONE))
        with pytest.raises(NotFoundError):
            await store.zone(ZONE)

    run(opener, work)


def test_group_commit_bumps_serials_and_wraps(opener: Callable[..., Awaitable[Store]]) -> None:
    async def work(store: Store) -> None:
        await store.import_zone(ZONE, SOA, 60, [], audit("i", ZONE))
        hosts = [HostRow(f"h{i}.{ZONE}", ZONE, None, f"{i:064x}") for i in range(3)]
        for h in hosts:
            await store.add_host(h, audit("host add", h.fqdn))
        new = [
            HostRow(h.fqdn, ZONE, None, h.secret_sha256, ipv4=f"192.0.2.{i}", updated=1.5)
            for i, h in enumerate(hosts)
        ]
        serials = await store.commit_host_states(new, [audit("update", h.fqdn) for h in new])
        assert serials == {ZONE: SOA.serial + 1}  # one bump for the whole batch
        assert [h.ipv4 for h in await store.hosts(ZONE)] == ["192.0.2.0", "192.0.2.1", "192.0.2.2"]
        # Serial arithmetic past 2**31 (PostgreSQL's INTEGER) and the RFC 1982 wrap.
        top = Soa(
            SOA.mname,
            SOA.rname,
            SERIAL_MODULUS,
            SOA.refresh,
            SOA.retry,
            SOA.expire,
            SOA.minimum,
            SOA.ttl,
        )
        await store.import_zone("big.example.", top, 60, [], audit("i", "big"))
        assert (await store.zone("big.example.")).soa.serial == SERIAL_MODULUS
        await store.add_host(
            HostRow("w.big.example.", "big.example.", None, "ee" * 32), audit("a", "w")
        )
        serials = await store.commit_host_states(
            [HostRow("w.big.example.", "big.example.", None, "ee" * 32, ipv4="192.0.2.9")], []
        )
        assert serials == {"big.example.": 1}
        # An import never moves the serial backwards.
        await store.import_zone(ZONE, SOA, 60, [], audit("i", ZONE))
        assert (await store.zone(ZONE)).soa.serial == SOA.serial + 2

    run(opener, work)


def test_other_processes_commits_are_noticed(opener: Callable[..., Awaitable[Store]]) -> None:
    async def work(server: Store) -> None:
        admin = await opener(announce=True)
        try:
            await _with_zone(admin)
            commit, fresh, last = (
                await server.commit_token(),
                await server.fresh_token(),
                await server.last_change(),
            )
            await admin.add_host(
                HostRow(f"n.{ZONE}", ZONE, None, "ff" * 32), audit("host add", "n")
            )
            assert await server.commit_token() != commit
            assert await server.fresh_token() != fresh
            changes = await server.changes_since(last)
            assert [(c.zone, c.name) for c in changes] == [(ZONE, f"n.{ZONE}")]
            # The server's own group commits are not "outside" changes.
            commit = await server.commit_token()
            await server.commit_host_states(
                [HostRow(f"n.{ZONE}", ZONE, None, "ff" * 32, ipv4="192.0.2.1")], []
            )
            await admin.add_user(UserRow("bob", "h", None, 1.0), audit("user add", "bob"))
            assert await server.commit_token() != commit
        finally:
            await admin.close()

    run(opener, work)


def test_server_updates_enter_the_feed_once_per_name(
    opener: Callable[..., Awaitable[Store]],
) -> None:
    """Updates are in the feed (other instances follow them), and a request's token
    (fresh_token) moves only for admin changes, never for a server's update."""

    async def work(server: Store) -> None:
        admin = await opener(announce=True)
        try:
            await _with_zone(admin)
            for name in ("a", "b"):
                await admin.add_host(
                    HostRow(f"{name}.{ZONE}", ZONE, None, "ff" * 32), audit("host add", name)
                )
            last, fresh = await server.last_change(), await server.fresh_token()
            for i in range(5):
                await server.commit_host_states(
                    [
                        HostRow(f"a.{ZONE}", ZONE, None, "ff" * 32, ipv4=f"192.0.2.{i}"),
                        HostRow(f"b.{ZONE}", ZONE, None, "ff" * 32, ipv4=f"192.0.2.{i}"),
                    ],
                    [],
                )
            if server.location.startswith("postgresql"):
                assert await server.fresh_token() == fresh
            changes = await server.changed_names_since(last)
            assert [(c.zone, c.name) for c in changes] == [(ZONE, f"a.{ZONE}"), (ZONE, f"b.{ZONE}")]
            assert changes[-1].seq == await server.last_change()
        finally:
            await admin.close()

    run(opener, work)


def test_service_follows_admin_commits(opener: Callable[..., Awaitable[Store]]) -> None:
    async def work(store: Store) -> None:
        admin = await opener(announce=True)
        catalog = Catalog()
        service = DdnsService(store, catalog)
        try:
            await _with_zone(admin)
            await service.start()
            await admin.add_host(
                HostRow(f"x.{ZONE}", ZONE, None, "11" * 32), audit("host add", "x")
            )
            await service.ensure_fresh()
            assert f"x.{ZONE}" in service.hosts  # no wait: the very next request sees it
            outcome = await service.update(
                UpdateIntent(f"x.{ZONE}", "test", "127.0.0.1", ipv4=IPv4Address("192.0.2.7"))
            )
            assert outcome.changed
            assert outcome.host is not None
            assert outcome.host.ipv4 == "192.0.2.7"
            assert (await admin.host(f"x.{ZONE}")) == outcome.host  # durable before the answer
            await admin.set_host_secret(f"x.{ZONE}", "22" * 32, audit("host rotate", "x"))
            await service.ensure_fresh()
            assert service.hosts[f"x.{ZONE}"].secret_sha256 == "22" * 32
        finally:
            await service.stop()
            await admin.close()

    run(opener, work)


def test_postgres_notify_wakes_the_server(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    """An admin commit reaches a listening server as a NOTIFY, without waiting for a poll."""

    async def work() -> None:
        server = await Store.open(tmp_path, database=pg_url)
        admin = await Store.open(tmp_path, database=pg_url, announce=True)
        woken = asyncio.Event()
        try:
            await server.on_outside_change(woken.set)  # returns once LISTEN is in place
            await _with_zone(admin)
            await asyncio.wait_for(woken.wait(), 10)
        finally:
            await admin.close()
            await server.close()

    asyncio.run(work())


def test_relay_ports_are_stored_per_host_and_tunnel(
    opener: Callable[..., Awaitable[Store]],
) -> None:
    async def work(store: Store) -> None:
        await _with_zone(store)
        for name in ("a", "b"):
            fqdn = f"{name}.{ZONE}"
            await store.add_host(HostRow(fqdn, ZONE, None, "0" * 64), audit("host add", fqdn))
        a, b = f"a.{ZONE}", f"b.{ZONE}"
        # A tunnel port outside the range gets the lowest free one, and keeps it.
        assert await store.relay_port(a, 22, 20000, 20002) == 20000
        assert await store.relay_port(a, 22, 20000, 20002) == 20000
        assert await store.relay_port(b, 22, 20000, 20002) == 20001
        # A port inside the range is the one wanted: b may not have a's.
        with pytest.raises(ConflictError):
            await store.relay_port(b, 20000, 20000, 20002)
        assert await store.relay_port(b, 20002, 20000, 20002) == 20002
        assert await store.relay_port(a, 0, 20000, 20002) is None  # used up
        # The range moved: allocated again inside it.
        assert await store.relay_port(a, 22, 21000, 21001) == 21000
        assert (a, 22, 21000) in await store.relay_ports()

    run(opener, work)


def test_relay_state_switches_dns_with_a_serial_bump_and_is_cleared_at_start(
    opener: Callable[..., Awaitable[Store]],
) -> None:
    from dataclasses import replace

    from homeport.server.service import RelaySwitch, host_records
    from homeport.server.store import RelaySessionRow

    async def work(store: Store) -> None:
        await _with_zone(store)
        fqdn = f"home.{ZONE}"
        await store.add_host(
            HostRow(fqdn, ZONE, None, "0" * 64, ipv4="192.0.2.77"), audit("host add", fqdn)
        )
        service = DdnsService(store, Catalog())
        await service.start()
        try:
            serial = (await store.zone(ZONE)).soa.serial
            session = RelaySessionRow(fqdn, time.time(), "native", "127.0.0.1:1", "http:80")
            up = RelaySwitch(fqdn, "192.0.2.10", None, session, audit("relay-up", fqdn))
            assert await service.switch_relay(up)
            host = await store.host(fqdn)
            assert host is not None
            assert (host.relay_ipv4, host.ipv4) == ("192.0.2.10", "192.0.2.77")
            assert (await store.zone(ZONE)).soa.serial == serial + 1
            assert [s.host for s in await store.relay_sessions()] == [fqdn]
            served = host_records(service.hosts[fqdn], [], 60)
            assert [(r.rdtype, r.rdata) for r in served] == [("A", "192.0.2.10")]
            # The same addresses again (a replaced session): no new serial.
            assert await service.switch_relay(replace(up, audit=audit("relay-up", fqdn)))
            assert (await store.zone(ZONE)).soa.serial == serial + 1
        finally:
            await service.stop()
        assert await store.clear_relays() == [fqdn]
        host = await store.host(fqdn)
        assert host is not None
        assert not host.relayed
        assert await store.relay_sessions() == []
        assert (await store.zone(ZONE)).soa.serial == serial + 2
        assert await store.clear_relays() == []

    run(opener, work)
