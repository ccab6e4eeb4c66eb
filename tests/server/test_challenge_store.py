"""Challenge values in the store and the service, on SQLite and PostgreSQL, with time
injected: many values per name, exact deletes, the caps, expiry, restart, and an old
database gaining the new tables."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.rcode
import pytest

from homeport.core import challenge
from homeport.core.zone import Catalog
from homeport.server import auth
from homeport.server.admin import add_zone
from homeport.server.challenges import ChallengeEdit, ChallengeOp
from homeport.server.service import DdnsService
from homeport.server.store import AuditEntry, HostRow, Store

ZONE = "dyn.example.net."
HOST = "home.dyn.example.net."
OTHER = "other.dyn.example.net."
NAME = "_acme-challenge." + HOST
V = ["%s" % (chr(ord("a") + i) * 43) for i in range(20)]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def edit(*ops: tuple[str, str | None, bool], host: str = HOST) -> ChallengeEdit:
    return ChallengeEdit(
        ZONE, host, tuple(ChallengeOp(n, v, a) for n, v, a in ops), "test", "local", "test"
    )


def served(catalog: Catalog, name: str = NAME) -> list[str]:
    wires = catalog.rdata_at(ZONE, name).get(16, frozenset())
    return sorted(w[1:].decode() for w in wires)


async def _session(
    data: Path, database: str | None, clock: Clock, work: Callable[[DdnsService], Awaitable[None]]
) -> None:
    store = await Store.open(data, database=database)
    service = DdnsService(store, Catalog(), clock=clock)
    await service.start()
    try:
        await work(service)
    finally:
        await service.stop()
        await store.close()


async def _provision(data: Path, database: str | None) -> None:
    store = await Store.open(data, announce=True, database=database)
    try:
        await add_zone(store, ZONE, [], 60)
        for fqdn in (HOST, OTHER):
            row = HostRow(fqdn, ZONE, None, auth.sha256_hex(auth.new_secret()), created=time.time())
            await store.add_host(row, AuditEntry("test", "host add", fqdn, ""))
    finally:
        await store.close()


def test_values_deletes_caps_expiry_and_restart(tmp_path: Path, database: str | None) -> None:
    data = tmp_path / "data"
    clock = Clock()

    async def first(service: DdnsService) -> None:
        serial = service.catalog.serial(ZONE)
        out = await service.edit_challenges(edit((NAME, V[0], True), (NAME, V[1], True)))
        assert (out.rcode, out.changed) == (0, True)
        assert served(service.catalog) == [V[0], V[1]]
        assert service.catalog.serial(ZONE) > serial
        # Deleting one exact value leaves the other; deleting an absent one is no change.
        out = await service.edit_challenges(edit((NAME, V[0], False)))
        assert served(service.catalog) == [V[1]]
        serial = service.catalog.serial(ZONE)
        out = await service.edit_challenges(edit((NAME, V[5], False)))
        assert (out.rcode, out.changed) == (0, False)
        assert service.catalog.serial(ZONE) == serial
        # The per-name cap refuses the whole edit.
        many = [(NAME, v, True) for v in V[: challenge.MAX_VALUES_PER_NAME + 1]]
        out = await service.edit_challenges(edit(*many))
        assert out.rcode == dns.rcode.REFUSED
        assert served(service.catalog) == [V[1]]
        # Half the lifetime later another value comes; the first expires before it.
        clock.now += challenge.LIFETIME / 2
        await service.edit_challenges(edit((NAME, V[2], True)))
        clock.now += challenge.LIFETIME / 2
        await service.edit_challenges(edit())  # any pass of the store task expires
        assert served(service.catalog) == [V[2]]

    async def second(service: DdnsService) -> None:
        # A restart serves what was acknowledged and not expired.
        assert served(service.catalog) == [V[2]]
        clock.now += challenge.LIFETIME
        await service.edit_challenges(edit())
        assert served(service.catalog) == []
        assert await service.store.challenges(0) == []

    async def go() -> None:
        await _provision(data, database)
        await _session(data, database, clock, first)
        await _session(data, database, clock, second)

    asyncio.run(go())


def test_an_old_database_gains_the_tables(tmp_path: Path) -> None:
    data = tmp_path / "data"
    asyncio.run(_provision(data, None))
    db = sqlite3.connect(data / "homeport.sqlite3")
    db.executescript("DROP TABLE challenges; DROP TABLE tsig_keys; DROP TABLE acmedns_accounts;")
    db.close()
    clock = Clock()

    async def work(service: DdnsService) -> None:
        await service.edit_challenges(edit((NAME, V[0], True)))
        assert served(service.catalog) == [V[0]]

    asyncio.run(_session(data, None, clock, work))


def test_concurrent_edits_share_a_commit_and_a_failed_commit_keeps_nothing(
    tmp_path: Path, database: str | None
) -> None:
    data = tmp_path / "data"
    clock = Clock()

    async def work(service: DdnsService) -> None:
        calls = 0
        real = service.store.commit_challenges

        async def counting(*args: object, **kwargs: object) -> dict[str, int]:
            nonlocal calls
            calls += 1
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        service.store.commit_challenges = counting  # type: ignore[method-assign]
        # Eight clients at once (as the UPDATE benchmark's): each served when answered,
        # in fewer transactions than edits; one over the cap is refused alone.
        edits = [edit((NAME, v, True)) for v in V[:8]]
        too_many = edit(*[(NAME, v, True) for v in V[:17]])
        outcomes = await asyncio.gather(*(service.edit_challenges(e) for e in [*edits, too_many]))
        assert [o.rcode for o in outcomes] == [0] * 8 + [dns.rcode.REFUSED]
        assert served(service.catalog) == sorted(V[:8])
        assert calls < 8
        # A commit that fails leaves memory and DNS as they were.
        from homeport.errors import StoreError

        async def failing(*args: object, **kwargs: object) -> dict[str, int]:
            raise StoreError("disk full")

        service.store.commit_challenges = failing  # type: ignore[method-assign]
        with pytest.raises(StoreError):
            await service.edit_challenges(edit((NAME, V[0], False), (NAME, V[9], True)))
        assert served(service.catalog) == sorted(V[:8])
        assert service.challenges.values(NAME) == sorted(V[:8])

    async def go() -> None:
        await _provision(data, database)
        await _session(data, database, clock, work)

    asyncio.run(go())


def test_a_static_record_at_a_challenge_name_stays(tmp_path: Path) -> None:
    """An operator's own TXT at a challenge name (imported) is served beside the values."""
    from homeport.core.zone import Record

    data = tmp_path / "data"
    clock = Clock()

    async def provision() -> None:
        await _provision(data, None)
        store = await Store.open(data, announce=True)
        try:
            zone = await store.zone(ZONE)
            records = [*await store.records(ZONE), Record(NAME, "TXT", 60, '"static"')]
            await store.import_zone(
                ZONE, zone.soa, 60, records, AuditEntry("test", "zone import", ZONE, "")
            )
        finally:
            await store.close()

    async def work(service: DdnsService) -> None:
        assert served(service.catalog) == ["static"]
        await service.edit_challenges(edit((NAME, V[0], True)))
        assert served(service.catalog) == sorted(["static", V[0]])
        await service.edit_challenges(edit((NAME, None, False)))  # "delete the RRset"
        assert served(service.catalog) == ["static"]  # only challenge values are ours

    asyncio.run(provision())
    asyncio.run(_session(data, None, clock, work))


def test_tsig_keys_and_acmedns_accounts_in_both_engines(
    tmp_path: Path, database: str | None
) -> None:
    from homeport.server.store import AcmeDnsAccount, TsigKeyRow

    data = tmp_path / "data"

    async def go() -> None:
        await _provision(data, database)
        store = await Store.open(data, announce=True, database=database)
        try:
            first = TsigKeyRow(HOST, HOST, "hmac-md5", "aa" * 16, 1.0)
            await store.set_tsig_key(first, AuditEntry("test", "host tsig", HOST, ""))
            second = TsigKeyRow(HOST, HOST, "hmac-sha512", "bb" * 16, 2.0)
            await store.set_tsig_key(second, AuditEntry("test", "host tsig", HOST, ""))
            assert await store.tsig_keys() == [second]  # a new key replaces the old
            account = AcmeDnsAccount("u1", "digest", HOST, "s1", 3.0)
            await store.add_acmedns_account(account, AuditEntry("test", "register", HOST, ""))
            assert await store.acmedns_account("u1") == account
            await store.remove_acmedns_account("u1", AuditEntry("test", "deregister", HOST, ""))
            assert await store.acmedns_account("u1") is None
            await store.add_acmedns_account(account, AuditEntry("test", "register", HOST, ""))
            # Removing the host takes its key and registrations with it.
            await store.remove_host(HOST, AuditEntry("test", "host rm", HOST, ""))
            assert await store.tsig_keys() == []
            assert await store.acmedns_account("u1") is None
        finally:
            await store.close()

    asyncio.run(go())
