"""The scale-out store engine: PostgreSQL through psycopg 3 (``--database postgresql://...``).

The store's SQL is SQLite's dialect; :func:`pg_sql` and :func:`pg_schema` are
the whole dialect layer (placeholders, column types, identity keys). Three
connections per process: a writer (autocommit off, one transaction per
batch, so an update is acknowledged only after ``COMMIT`` returned, which
with PostgreSQL's default ``synchronous_commit=on`` means the WAL is flushed),
a reader (autocommit, so reads never join a pending write transaction) and,
in a running server, a listener for the writers' ``NOTIFY``.

Several servers may run on one database (each serving HTTP and DNS): see
:meth:`PgDatabase.claim_server` for why that is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from homeport.errors import ConfigError, ConflictError, StoreError
from homeport.server.database import Params, Row, redact, scrub

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg is the optional "postgres" extra
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# Delivered to every listening server when an announcing transaction commits (an admin
# command's, or another server instance's on the same database).
CHANNEL = "homeport_changes"
# Writers serialize on this transaction-scoped advisory lock, as SQLite's BEGIN IMMEDIATE
# makes them: a zone import's read-then-write of the SOA serial cannot interleave with a
# concurrent bump, and concurrent first runs do not race on CREATE TABLE IF NOT EXISTS.
WRITE_LOCK = 0x686F6D65  # "home"
# How long the listener waits before connecting again after losing its connection
# (PostgreSQL restarted, pg_terminate_backend, a network blip). NOTIFY is only a
# wake-up: the store task's poll of the feed (service.WATCH_INTERVAL) is the backstop
# that bounds how long a missed notification can delay another instance's change.
RELISTEN_DELAY = 1.0
# Names the listener's session in pg_stat_activity, so an operator (or a test) can
# tell it from the reader and writer connections.
LISTENER_NAME = "homeport-listen"
# libpq waits forever by default; a server that never answers should fail a command.
CONNECT_TIMEOUT = 10

_TYPES = (
    (
        re.compile(r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?"),
        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    ),
    # SOA serials reach 2**32-1, past PostgreSQL's 4-byte INTEGER.
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    # PostgreSQL's REAL is 4 bytes: a Unix time would lose its seconds.
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def pg_schema(schema: str) -> str:
    for pattern, replacement in _TYPES:
        schema = pattern.sub(replacement, schema)
    return schema


@functools.lru_cache(maxsize=256)
def pg_sql(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _one_line(exc: BaseException, url: str) -> str:
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return scrub(text, url) or type(exc).__name__


class _Tx:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    async def execute(self, sql: str, params: Params = ()) -> None:
        if params:
            await self._cur.execute(pg_sql(sql), params)
        else:
            await self._cur.execute(sql)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if rows:
            await self._cur.executemany(pg_sql(sql), rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        await self.execute(sql, params)
        return [tuple(r) for r in await self._cur.fetchall()]


class PgDatabase:
    """PostgreSQL behind the store; ``location`` is the URL without its password."""

    def __init__(self, url: str, writer: Any, reader: Any, announce: bool) -> None:
        self._url = url
        self.location = redact(url)
        self._writer = writer
        self._reader = reader
        self._announce = announce
        self._lock = asyncio.Lock()
        self._pending: asyncio.Future[int] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._writer_pid = writer.info.backend_pid  # its NOTIFYs need not wake us

    @classmethod
    async def open(cls, url: str, *, announce: bool) -> PgDatabase:
        if psycopg is None:
            raise ConfigError("PostgreSQL needs psycopg: pip install 'homeport[postgres]'")
        writer = await _connect(url, autocommit=False)
        try:
            reader = await _connect(url, autocommit=True)
        except StoreError:
            await writer.close()
            raise
        return cls(url, writer, reader, announce)

    def _error(self, exc: BaseException, what: str) -> StoreError:
        if psycopg is not None and isinstance(exc, psycopg.errors.IntegrityError):
            return ConflictError(f"already exists or still in use: {_one_line(exc, self._url)}")
        return StoreError(f"{what} ({self.location}): {_one_line(exc, self._url)}")

    async def setup(self, schema: str) -> None:
        async with self.transaction() as tx:
            await tx.execute(pg_schema(schema))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        assert psycopg is not None
        async with self._lock:
            try:
                if self._writer.broken or self._writer.closed:
                    self._writer = await _connect(self._url, autocommit=False)
                    self._writer_pid = self._writer.info.backend_pid
                async with self._writer.cursor() as cur:
                    try:
                        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                        yield _Tx(cur)
                        if self._announce:
                            await cur.execute(f"NOTIFY {CHANNEL}")
                    except BaseException:
                        with contextlib.suppress(psycopg.Error):
                            await self._writer.rollback()
                        raise
                await self._writer.commit()
            except psycopg.Error as exc:
                raise self._error(exc, "store write failed") from exc

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        assert psycopg is not None
        try:
            if self._reader.broken or self._reader.closed:
                self._reader = await _connect(self._url, autocommit=True)
            async with self._reader.cursor() as cur:
                return await _Tx(cur).fetchall(sql, params)
        except psycopg.Error as exc:
            raise self._error(exc, "store read failed") from exc

    async def commit_token(self) -> int:
        """The newest ``changes`` seq: every announcing transaction appends to the feed."""
        rows = await self.fetchall("SELECT COALESCE(MAX(seq), 0) FROM changes")
        return int(rows[0][0])

    async def fresh_token(self) -> int:
        """The newest admin change's seq, one query shared by concurrent requests.

        Server instances' updates (``by_server``) change host data only, never what
        authentication reads: a request need not wait for them to be followed.

        A caller joins the next query to start, never one already under way: that
        one may have been sent before the commit the caller must see.
        """
        if self._pending is None:
            self._pending = asyncio.get_running_loop().create_future()
            if self._poller is None or self._poller.done():
                self._poller = asyncio.create_task(self._poll())
        return await asyncio.shield(self._pending)

    async def _poll(self) -> None:
        while self._pending is not None:
            future, self._pending = self._pending, None
            try:
                rows = await self.fetchall(
                    "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE by_server = 0"
                )
                future.set_result(int(rows[0][0]))
            except StoreError as exc:
                future.set_exception(exc)

    async def on_outside_change(self, callback: Callable[[], None]) -> None:
        """LISTEN on a connection of its own; returns once listening (or failed: then polling).

        A lost listener connection is opened again (after :data:`RELISTEN_DELAY`) and
        ``callback`` is called once it listens again: whatever was announced while no
        one listened is then caught up from the feed.
        """
        if self._listener is not None:
            return
        conn = await self._listen_connection()
        self._listener = asyncio.create_task(self._listen(conn, callback), name="homeport-listen")

    async def _listen_connection(self) -> Any:
        """A connection that LISTENs on :data:`CHANNEL`, or None (logged: polling only)."""
        assert psycopg is not None
        try:
            conn = await _connect(self._url, autocommit=True, name=LISTENER_NAME)
        except StoreError as exc:
            log.warning("cannot listen for changes, polling instead: %s", exc)
            return None
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("cannot listen for changes, polling instead: %s", _one_line(exc, self._url))
            await conn.close()
            return None
        return conn

    async def _listen(self, conn: Any, callback: Callable[[], None]) -> None:
        assert psycopg is not None
        while True:
            if conn is not None:
                try:
                    async for notify in conn.notifies():
                        if notify.pid != self._writer_pid:
                            callback()  # not this instance's own commit coming back
                except psycopg.Error as exc:
                    log.warning(
                        "change notifications lost, polling until listening again: %s",
                        _one_line(exc, self._url),
                    )
                finally:
                    await conn.close()
            await asyncio.sleep(RELISTEN_DELAY)
            conn = await self._listen_connection()
            if conn is not None:
                log.info("listening for changes again")
                callback()  # catch up on what was announced while no one listened

    async def claim_server(self) -> None:
        """Several servers may share one PostgreSQL database: nothing to claim.

        What one server per store protected is safe with several writers here: every
        write transaction holds :data:`WRITE_LOCK`, so SOA serials come from the
        database one after another (never backwards) and the ``changes`` feed has no
        holes (seqs are taken and committed in lock order); each instance follows
        the others' commits through the feed. A server's commits are announced, so
        the other instances hear of them at once.
        """
        self._announce = True

    async def close(self) -> None:
        for task in (self._listener, self._poller):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._reader.close()
        await self._writer.close()


async def _connect(url: str, *, autocommit: bool, name: str | None = None) -> Any:
    assert psycopg is not None
    extra: dict[str, Any] = {} if "connect_timeout" in url else {"connect_timeout": CONNECT_TIMEOUT}
    if name is not None:
        extra["application_name"] = name
    try:
        return await psycopg.AsyncConnection.connect(url, autocommit=autocommit, **extra)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {redact(url)}: {_one_line(exc, url)}") from exc
