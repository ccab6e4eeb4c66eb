"""Secondaries in the store, on both engines: kept across restarts, announced, migrated."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from homeport.errors import ConflictError, NotFoundError
from homeport.server.store import SecondaryRow, Store
from tests.server.test_store_backends import audit, database, opener, run  # noqa: F401

ROW = SecondaryRow("bind.", "127.0.0.1", 5301, "hmac-sha256", "c2VjcmV0" * 4, time.time())


def test_secondaries_survive_a_reopen_and_are_announced(
    opener: Callable[..., Awaitable[Store]],  # noqa: F811
) -> None:
    async def add(store: Store) -> int:
        before = await store.last_change()
        await store.add_secondary(ROW, audit("secondary add", ROW.name))
        with pytest.raises(ConflictError):
            await store.add_secondary(ROW, audit("secondary add", ROW.name))
        return before

    before = run(opener, add)

    async def check(store: Store) -> None:
        assert await store.secondaries() == [ROW]
        # A change-feed entry: a running server reloads its keyring.
        assert await store.last_change() > before
        assert "c2VjcmV0" not in repr(ROW)  # the key never shows in a repr (logs)
        await store.remove_secondary(ROW.name, audit("secondary rm", ROW.name))
        assert await store.secondaries() == []
        with pytest.raises(NotFoundError):
            await store.remove_secondary(ROW.name, audit("secondary rm", ROW.name))

    run(opener, check)


def test_a_database_from_before_secondaries_gets_the_table(
    opener: Callable[..., Awaitable[Store]],  # noqa: F811
) -> None:
    async def drop(store: Store) -> None:
        await store._db.setup("DROP TABLE secondaries;")

    run(opener, drop)

    async def check(store: Store) -> None:
        assert await store.secondaries() == []
        await store.add_secondary(ROW, audit("secondary add", ROW.name))

    run(opener, check)
