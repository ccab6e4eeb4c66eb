"""What the dashboard keeps in the store, on both engines: sessions, the client, the history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from homeport.core.zone import Catalog
from homeport.errors import UsageError
from homeport.server.service import MAX_AGENT_LENGTH, DdnsService, UpdateIntent
from homeport.server.store import HostRow, Store, UserRow
from tests.server.pg import pg_socket, pg_url  # noqa: F401 - fixtures
from tests.server.test_store_backends import ZONE, _with_zone, audit, database, opener, run  # noqa: F401 - fixtures

Opener = Callable[..., Awaitable[Store]]


def test_sessions_expire_and_go_with_their_account(opener: Opener) -> None:  # noqa: F811
    async def work(store: Store) -> None:
        await store.add_user(UserRow("alice", "hash", None, 1.0), audit("user add", "alice"))
        await store.add_session("aa" * 32, "alice", now=100.0, expires=200.0)
        assert await store.session_user("aa" * 32, 150.0) == "alice"
        assert await store.session_user("aa" * 32, 200.0) is None  # expired
        assert await store.session_user("bb" * 32, 150.0) is None
        # A new session clears the expired ones.
        await store.add_session("bb" * 32, "alice", now=300.0, expires=400.0)
        assert await store.session_user("aa" * 32, 0.0) is None
        await store.add_session("cc" * 32, "alice", now=300.0, expires=400.0)
        await store.remove_session("bb" * 32)  # signed out
        assert await store.session_user("bb" * 32, 350.0) is None
        assert await store.session_user("cc" * 32, 350.0) == "alice"
        # A password change keeps the session that made it and ends the others.
        await store.add_session("dd" * 32, "alice", now=300.0, expires=400.0)
        await store.remove_other_sessions("alice", "dd" * 32)
        assert await store.session_user("cc" * 32, 350.0) is None
        assert await store.session_user("dd" * 32, 350.0) == "alice"
        await store.remove_user("alice", audit("user rm", "alice"))
        assert await store.session_user("dd" * 32, 350.0) is None  # no account, no session

    run(opener, work)


def test_updates_keep_the_client_and_a_history(opener: Opener) -> None:  # noqa: F811
    async def work(store: Store) -> None:
        await _with_zone(store)
        name = f"pi.{ZONE}"
        await store.add_host(HostRow(name, ZONE, None, "11" * 32), audit("host add", name))
        service = DdnsService(store, Catalog())
        await service.start()
        try:
            for ip, agent in (("192.0.2.1", "ddclient/3.10.0"), ("192.0.2.2", "x" * 999)):
                await service.update(
                    UpdateIntent(name, "host:" + name, "198.51.100.9", IPv4Address(ip), agent=agent)
                )
            # nochg: no new history line, the last changing client stays.
            await service.update(
                UpdateIntent(name, "host:" + name, "198.51.100.9", IPv4Address("192.0.2.2"))
            )
            # A private address in a public zone: refused, a fault.
            with pytest.raises(UsageError):
                await service.update(
                    UpdateIntent(name, "host:" + name, "198.51.100.9", IPv4Address("10.0.0.1"))
                )
        finally:
            await service.stop()
        # The counts are the store's: a new process (a restarted server) reads them back.
        stats = (await store.host_stats(fqdn=name))[name]
        assert (stats.good, stats.nochg, stats.fault) == (2, 1, 1)
        assert stats.last_source == "198.51.100.9"
        assert stats.last_agent is None  # the newest request (the refused one) sent none
        assert (await store.host_stats(owner="nobody")) == {}
        host = await store.host(name)
        assert host is not None
        assert host.last_agent == "x" * MAX_AGENT_LENGTH
        history = await store.host_history(name)
        assert [e.detail.split()[0] for e in history] == ["ipv4=192.0.2.2", "ipv4=192.0.2.1"]
        assert {e.source for e in history} == {"198.51.100.9"}

    run(opener, work)


def test_request_counts_add_up_across_services_and_skip_removed_hosts(
    opener: Opener,  # noqa: F811
) -> None:
    """Two service lifetimes (a restart) add to the same counts; a removed host's go with it."""

    async def work(store: Store) -> None:
        await _with_zone(store)
        await store.add_user(UserRow("alice", "hash", None, 1.0), audit("user add", "alice"))
        names = [f"a.{ZONE}", f"b.{ZONE}"]
        for name in names:
            await store.add_host(HostRow(name, ZONE, "alice", "22" * 32), audit("host add", name))
        for _ in range(2):
            service = DdnsService(store, Catalog())
            await service.start()
            try:
                for name in names:
                    await service.update(
                        UpdateIntent(
                            name,
                            "host:" + name,
                            "198.51.100.1",
                            IPv4Address("192.0.2.5"),
                            agent="t/1",
                        )
                    )
            finally:
                await service.stop()
        got = await store.host_stats(owner="alice")
        assert {n: (s.good, s.nochg, s.fault) for n, s in got.items()} == {
            names[0]: (1, 1, 0),
            names[1]: (1, 1, 0),
        }
        await store.remove_host(names[0], audit("host rm", names[0]))
        # A count for a host that is gone writes nothing and fails nothing.
        from homeport.server.store import HostStats

        await store.add_host_stats(
            [
                HostStats(names[0], fault=1, last_seen=1.0),
                HostStats(names[1], fault=1, last_seen=1.0),
            ]
        )
        got = await store.host_stats()
        assert set(got) == {names[1]}
        assert (got[names[1]].fault, got[names[1]].last_agent) == (1, "t/1")  # older: kept

    run(opener, work)


def test_tokens_invitations_totp_steps_and_ttl_on_both_engines(opener: Opener) -> None:  # noqa: F811
    from homeport.errors import ConflictError, NotFoundError
    from homeport.server.store import ApiTokenRow, InvitationRow

    async def work(store: Store) -> None:
        await _with_zone(store)
        await store.add_user(
            UserRow("alice", "hash", None, 1.0, admin=True), audit("user add", "alice")
        )
        assert (await store.user("alice")) == UserRow("alice", "hash", None, 1.0, True)
        # Scoped tokens: found by digest, listed per owner, revoked by their owner only.
        row = ApiTokenRow("ab12cd34", "alice", "55" * 32, "router", "", "A", "", None, 2.0)
        await store.add_api_token(row, audit("token add", "alice"))
        assert await store.api_token("55" * 32) == row
        assert await store.api_tokens("alice") == [row]
        with pytest.raises(NotFoundError):
            await store.remove_api_token("bob", "ab12cd34", audit("token rm", "bob"))
        await store.remove_api_token("alice", "ab12cd34", audit("token rm", "alice"))
        assert await store.api_token("55" * 32) is None
        # An invitation makes one account, once, before it expires.
        invitation = InvitationRow("66" * 32, "inv1", "alice", 10.0, 100.0)
        await store.add_invitation(invitation, audit("invitation add", "inv1"))
        carol = UserRow("carol", "hash", None, 20.0)
        with pytest.raises(NotFoundError):
            await store.sign_up("66" * 32, carol, 100.0, audit("user signup", "carol"))  # late
        with pytest.raises(ConflictError):
            await store.sign_up("66" * 32, replace(carol, name="alice"), 20.0, audit("x", "a"))
        assert (await store.invitation("66" * 32)) == invitation  # untouched
        await store.sign_up("66" * 32, carol, 20.0, audit("user signup", "carol"))
        assert (await store.user("carol")) is not None
        with pytest.raises(NotFoundError):
            await store.sign_up("66" * 32, replace(carol, name="dave"), 21.0, audit("x", "d"))
        assert (await store.invitation("66" * 32)) == replace(
            invitation, used_by="carol", used=20.0
        )
        # TOTP: the secret kept; each step good once, and only newer ones.
        await store.set_user_totp("carol", "JBSWY3DPEHPK3PXP", audit("user totp on", "carol"))
        assert (await store.user("carol")).totp_secret == "JBSWY3DPEHPK3PXP"  # type: ignore[union-attr]
        assert await store.use_totp_step("carol", 100)
        assert not await store.use_totp_step("carol", 100)
        assert not await store.use_totp_step("carol", 99)
        assert await store.use_totp_step("carol", 101)
        # A host's TTL: kept, and a new serial for it.
        name = f"pi.{ZONE}"
        await store.add_host(HostRow(name, ZONE, "carol", "77" * 32), audit("host add", name))
        serial = (await store.zone(ZONE)).soa.serial
        await store.set_host_ttl(name, 300, audit("host ttl", name))
        assert (await store.host(name)).ttl == 300  # type: ignore[union-attr]
        assert (await store.zone(ZONE)).soa.serial == serial + 1

    run(opener, work)
