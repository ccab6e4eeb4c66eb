"""The default store engine: SQLite (WAL, ``synchronous=FULL``) in the data directory."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import aiosqlite

from homeport.errors import ConflictError, StoreError
from homeport.server.database import Params, Row

DB_NAME = "homeport.sqlite3"
# Touched by admin commands after each commit, so a running server notices with one
# stat() per request instead of a database round trip (see DdnsService.ensure_fresh).
CHANGED_NAME = "changed"

# A writer holding the lock (an admin import) makes others wait rather than fail.
BUSY_TIMEOUT_MS = 10_000
# flock()ed by the running server (Database.claim_server); it holds the holder's pid for
# the refusal message. The kernel drops the lock when the process dies, even by kill -9,
# so a crash never leaves a stale lock behind.
SERVER_LOCK_NAME = "server.lock"


def translate(exc: sqlite3.Error, what: str) -> StoreError:
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"already exists or still in use: {exc}")
    return StoreError(f"{what}: {exc}")


class _Tx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._db = conn

    async def execute(self, sql: str, params: Params = ()) -> None:
        await self._db.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self._db.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return [tuple(r) for r in await self._db.execute_fetchall(sql, params)]


class SqliteDatabase:
    """One aiosqlite connection per process, shared by all tasks."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, announce: bool) -> None:
        self._db = conn
        self.path = path
        self.location = str(path)
        self.changed_path = path.parent / CHANGED_NAME
        self._announce = announce
        # A transaction's statements are awaited one by one, so another task must not
        # slip its own BEGIN (or statements) in between.
        self._lock = asyncio.Lock()
        self._server_lock: int | None = None

    @classmethod
    async def open(cls, data_dir: Path, *, announce: bool) -> SqliteDatabase:
        try:
            await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True, mode=0o700)
            path = data_dir / DB_NAME
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open data directory {data_dir}: {exc}") from exc
        return cls(conn, path, announce)

    async def setup(self, schema: str) -> None:
        try:
            await self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, not only a killed process (an update is
            # acknowledged only once durable). Group commit keeps the fsync count low.
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._db.execute("PRAGMA foreign_keys=ON")
            await self._db.executescript(schema)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot use {self.path}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        """One IMMEDIATE transaction (writers queue up rather than deadlock)."""
        try:
            async with self._lock:
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield _Tx(self._db)
                except BaseException:
                    await self._db.execute("ROLLBACK")
                    raise
                await self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate(exc, "store write failed") from exc
        if self._announce:
            await asyncio.to_thread(self.changed_path.touch)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return [tuple(r) for r in await self._db.execute_fetchall(sql, params)]
        except sqlite3.Error as exc:
            raise translate(exc, "store read failed") from exc

    async def commit_token(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes whenever another connection commits."""
        rows = await self.fetchall("PRAGMA data_version")
        return int(rows[0][0])

    async def fresh_token(self) -> int:
        """The ``changed`` file's mtime: one stat(), no database round trip."""
        try:
            return self.changed_path.stat().st_mtime_ns
        except OSError:
            return 0

    async def on_outside_change(self, callback: Callable[[], None]) -> None:
        """Nothing pushes here: the store task's poll of data_version is the signal."""

    async def claim_server(self) -> None:
        path = self.path.parent / SERVER_LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise StoreError(
                f"another homeport server{who} already serves {self.location}:"
                " one server per SQLite store, since SQLite cannot tell one server of"
                " another's commits (stop it first, or run several servers on one"
                " PostgreSQL database: --database postgresql://...)"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._server_lock = fd

    async def close(self) -> None:
        await self._db.close()
        if self._server_lock is not None:
            os.close(self._server_lock)  # releases the flock
            self._server_lock = None
