"""The store task outlives any failure of one batch; the store upgrades an older database.

In-process (the process-level attacks are in test_poison.py): faults are injected
where no request can reach, to prove the task's catch-all, not the validators.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from homeport.core.zone import Catalog
from homeport.errors import StoreError, UsageError
from homeport.server import auth
from homeport.server.admin import add_zone
from homeport.server.service import DdnsService, UpdateIntent
from homeport.server.store import AuditEntry, HostRow, Store
from homeport.server.store_sqlite import DB_NAME

ONE = "one.dyn.example.net."
TWO = "two.dyn.example.net."


async def _service(data: Path) -> DdnsService:
    store = await Store.open(data, announce=True)
    await add_zone(store, "dyn.example.net.", [], 60)
    for fqdn in (ONE, TWO):
        row = HostRow(fqdn, "dyn.example.net.", None, auth.sha256_hex(fqdn), created=time.time())
        await store.add_host(row, AuditEntry("test", "host add", fqdn, ""))
    service = DdnsService(store, Catalog())
    await service.start()
    return service


def run_with_service(data: Path, body: Callable[[DdnsService], Awaitable[None]]) -> None:
    async def go() -> None:
        svc = await _service(data)
        try:
            await body(svc)
        finally:
            await svc.stop()
            await svc.store.close()

    asyncio.run(go())


def _intent(fqdn: str, address: str) -> UpdateIntent:
    return UpdateIntent(fqdn=fqdn, actor="test", source="test", ipv4=IPv4Address(address))


def test_an_unexpected_error_fails_its_batch_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_with_service(tmp_path, lambda svc: _unexpected_error(svc, monkeypatch))


async def _unexpected_error(service: DdnsService, monkeypatch: pytest.MonkeyPatch) -> None:
    real = service.store.commit_host_states
    calls = 0

    async def broken_once(*args: Any, **kwargs: Any) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug nobody foresaw")
        return await real(*args, **kwargs)

    monkeypatch.setattr(service.store, "commit_host_states", broken_once)
    with pytest.raises(StoreError):
        await service.update(_intent(ONE, "192.0.2.1"))
    assert service.running
    outcome = await service.update(_intent(ONE, "192.0.2.2"))
    assert outcome.changed
    assert outcome.host is not None
    assert outcome.host.ipv4 == "192.0.2.2"


def test_a_record_that_does_not_render_is_refused_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_with_service(tmp_path, lambda svc: _render_refused(svc, monkeypatch))


async def _render_refused(service: DdnsService, monkeypatch: pytest.MonkeyPatch) -> None:
    real = service.catalog.prepare_name

    def refuse_one(origin: str, name: str, records: Any) -> Any:
        if name == ONE:
            from homeport.errors import ConfigError

            raise ConfigError("cannot render")
        return real(origin, name, records)

    monkeypatch.setattr(service.catalog, "prepare_name", refuse_one)
    first, second = await asyncio.gather(
        service.update(_intent(ONE, "192.0.2.3")),
        service.update(_intent(TWO, "192.0.2.4")),
        return_exceptions=True,
    )
    assert isinstance(first, UsageError)
    assert not isinstance(second, BaseException)
    assert second.changed
    stored = await service.store.host(ONE)
    assert stored is not None
    assert stored.ipv4 is None  # refused before it was stored
    assert service.running


def test_an_older_database_gains_the_zone_setting(tmp_path: Path) -> None:
    asyncio.run(_older_database(tmp_path))


async def _older_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / DB_NAME)
    # The zones table as homeport created it before allow_private existed.
    db.executescript(
        "CREATE TABLE zones (origin TEXT PRIMARY KEY, mname TEXT NOT NULL, rname TEXT NOT NULL,"
        " serial INTEGER NOT NULL, refresh INTEGER NOT NULL, retry INTEGER NOT NULL,"
        " expire INTEGER NOT NULL, minimum INTEGER NOT NULL, soa_ttl INTEGER NOT NULL,"
        " default_ttl INTEGER NOT NULL, created REAL NOT NULL);"
        "INSERT INTO zones VALUES ('old.example.', 'ns1.old.example.',"
        " 'hostmaster.old.example.', 1, 3600, 600, 86400, 60, 3600, 60, 0);"
    )
    db.close()
    store = await Store.open(data)
    try:
        zones = await store.zones()
        assert [(z.origin, z.allow_private) for z in zones] == [("old.example.", False)]
        await store.set_zone_allow_private(
            "old.example.", True, AuditEntry("t", "zone set", "old.example.", "")
        )
        assert (await store.zone("old.example.")).allow_private
    finally:
        await store.close()
