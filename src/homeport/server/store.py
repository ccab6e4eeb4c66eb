"""The server's store: the source of truth, in SQLite (WAL) under the data directory.

Admin commands and the running server open the same database. The server
notices other processes' commits through ``PRAGMA data_version`` and replays
the ``changes`` feed they append, so an imported zone or a new host is served
without a restart (DESIGN §2). Updates are committed with ``synchronous=FULL``
before they are acknowledged; :mod:`homeport.server.service` batches
concurrent updates into one transaction (group commit) so durability does not
cost one fsync per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from homeport.core.zone import Record, Soa
from homeport.errors import ConflictError, NotFoundError, StoreError

DB_NAME = "homeport.sqlite3"
# Touched by admin commands after each commit, so a running server notices with one
# stat() per request instead of a database round trip (see DdnsService.ensure_fresh).
CHANGED_NAME = "changed"
SCHEMA_VERSION = 1

# A writer holding the lock (an admin import) makes others wait rather than fail.
BUSY_TIMEOUT_MS = 10_000

# RFC 1982 serial arithmetic: the serial lives in 1..2**32-1 and wraps past it.
SERIAL_MODULUS = 2**32 - 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS zones (
    origin TEXT PRIMARY KEY, mname TEXT NOT NULL, rname TEXT NOT NULL,
    serial INTEGER NOT NULL, refresh INTEGER NOT NULL, retry INTEGER NOT NULL,
    expire INTEGER NOT NULL, minimum INTEGER NOT NULL, soa_ttl INTEGER NOT NULL,
    default_ttl INTEGER NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, zone TEXT NOT NULL REFERENCES zones(origin) ON DELETE CASCADE,
    name TEXT NOT NULL, rdtype TEXT NOT NULL, ttl INTEGER NOT NULL, rdata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_name ON records(zone, name);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, token_sha256 TEXT UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS hosts (
    fqdn TEXT PRIMARY KEY, zone TEXT NOT NULL REFERENCES zones(origin) ON DELETE CASCADE,
    owner TEXT REFERENCES users(name) ON DELETE SET NULL, secret_sha256 TEXT NOT NULL,
    ipv4 TEXT, ipv6 TEXT, txt TEXT, offline INTEGER NOT NULL DEFAULT 0,
    updated REAL, created REAL NOT NULL, last_source TEXT
);
CREATE INDEX IF NOT EXISTS hosts_by_zone ON hosts(zone);
CREATE INDEX IF NOT EXISTS hosts_by_secret ON hosts(secret_sha256);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, zone TEXT NOT NULL, name TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, detail TEXT NOT NULL, source TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ZoneRow:
    origin: str
    soa: Soa
    default_ttl: int


@dataclass(frozen=True)
class HostRow:
    fqdn: str
    zone: str
    owner: str | None
    secret_sha256: str
    ipv4: str | None = None
    ipv6: str | None = None
    txt: str | None = None
    offline: bool = False
    updated: float | None = None
    created: float = 0.0
    last_source: str | None = None


@dataclass(frozen=True)
class UserRow:
    name: str
    password_hash: str
    token_sha256: str | None
    created: float


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    subject: str
    detail: str
    source: str = "local"
    ts: float = 0.0


@dataclass(frozen=True)
class Change:
    """One entry of the change feed: ``name`` None means the whole zone."""

    seq: int
    zone: str
    name: str | None


def next_serial(serial: int) -> int:
    """RFC 1982 increment: 2**32-1 wraps to 1 (0 is avoided: some secondaries mistrust it)."""
    return serial % SERIAL_MODULUS + 1


def _host(row: sqlite3.Row | tuple[Any, ...]) -> HostRow:
    return HostRow(
        fqdn=row[0],
        zone=row[1],
        owner=row[2],
        secret_sha256=row[3],
        ipv4=row[4],
        ipv6=row[5],
        txt=row[6],
        offline=bool(row[7]),
        updated=row[8],
        created=row[9],
        last_source=row[10],
    )


_HOST_COLUMNS = (
    "fqdn, zone, owner, secret_sha256, ipv4, ipv6, txt, offline, updated, created, last_source"
)


def _zone(row: sqlite3.Row | tuple[Any, ...]) -> ZoneRow:
    return ZoneRow(
        origin=row[0],
        soa=Soa(
            mname=row[1],
            rname=row[2],
            serial=row[3],
            refresh=row[4],
            retry=row[5],
            expire=row[6],
            minimum=row[7],
            ttl=row[8],
        ),
        default_ttl=row[9],
    )


_ZONE_COLUMNS = (
    "origin, mname, rname, serial, refresh, retry, expire, minimum, soa_ttl, default_ttl"
)


class Store:
    """Async access to the data directory's database (one connection per process)."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, announce: bool = False) -> None:
        self._db = conn
        self.path = path
        self.changed_path = path.parent / CHANGED_NAME
        self._announce = announce
        # One connection is shared by all tasks: a transaction's statements are awaited one
        # by one, so another task must not slip its own BEGIN (or statements) in between.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, data_dir: Path, *, announce: bool = False) -> Store:
        """Open (creating if needed) the store; ``announce``: tell running servers of commits."""
        try:
            await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True, mode=0o700)
            path = data_dir / DB_NAME
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open data directory {data_dir}: {exc}") from exc
        store = cls(conn, path, announce)
        try:
            await store._setup()
        except sqlite3.Error as exc:
            await conn.close()
            raise StoreError(f"cannot use {path}: {exc}") from exc
        return store

    async def _setup(self) -> None:
        await self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, not only a killed process (an update is
        # acknowledged only once durable). Group commit keeps the fsync count low.
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.executescript(SCHEMA)
        await self._db.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )

    async def close(self) -> None:
        await self._db.close()

    # -- transactions ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One IMMEDIATE transaction, committed on success and rolled back on any error."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
        if self._announce:
            await asyncio.to_thread(self.changed_path.touch)

    async def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        try:
            async with self._transaction() as db:
                for sql, params in statements:
                    await db.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"already exists or still in use: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"store write failed: {exc}") from exc

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(await self._db.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    # -- change feed ----------------------------------------------------------------

    async def data_version(self) -> int:
        """Changes whenever another connection commits (SQLite's PRAGMA data_version)."""
        rows = await self._fetchall("PRAGMA data_version")
        return int(rows[0][0])

    async def last_change(self) -> int:
        rows = await self._fetchall("SELECT COALESCE(MAX(seq), 0) FROM changes")
        return int(rows[0][0])

    async def changes_since(self, seq: int) -> list[Change]:
        rows = await self._fetchall(
            "SELECT seq, zone, name FROM changes WHERE seq > ? ORDER BY seq", (seq,)
        )
        return [Change(r[0], r[1], r[2]) for r in rows]

    @staticmethod
    def _bump(zone: str) -> tuple[str, Sequence[Any]]:
        return ("UPDATE zones SET serial = serial % ? + 1 WHERE origin = ?", (SERIAL_MODULUS, zone))

    @staticmethod
    def _changed(zone: str, name: str | None) -> tuple[str, Sequence[Any]]:
        return ("INSERT INTO changes(zone, name) VALUES (?, ?)", (zone, name))

    @staticmethod
    def _audit(entry: AuditEntry) -> tuple[str, Sequence[Any]]:
        return (
            "INSERT INTO audit(ts, actor, action, subject, detail, source) VALUES (?,?,?,?,?,?)",
            (
                entry.ts or time.time(),
                entry.actor,
                entry.action,
                entry.subject,
                entry.detail,
                entry.source,
            ),
        )

    # -- zones ----------------------------------------------------------------------

    async def zones(self) -> list[ZoneRow]:
        rows = await self._fetchall(f"SELECT {_ZONE_COLUMNS} FROM zones ORDER BY origin")
        return [_zone(r) for r in rows]

    async def zone(self, origin: str) -> ZoneRow:
        rows = await self._fetchall(
            f"SELECT {_ZONE_COLUMNS} FROM zones WHERE origin = ?", (origin,)
        )
        if not rows:
            raise NotFoundError(f"no zone {origin}")
        return _zone(rows[0])

    async def add_zone(
        self, origin: str, soa: Soa, default_ttl: int, records: Iterable[Record], audit: AuditEntry
    ) -> None:
        if await self._fetchall("SELECT 1 FROM zones WHERE origin = ?", (origin,)):
            raise ConflictError(f"zone {origin} exists already")
        await self.import_zone(origin, soa, default_ttl, records, audit)

    async def import_zone(
        self, origin: str, soa: Soa, default_ttl: int, records: Iterable[Record], audit: AuditEntry
    ) -> int:
        """Create or replace a zone's static records in one transaction; returns their count.

        The serial never goes backwards: an imported SOA serial lower than the
        stored one is raised past it (secondaries would otherwise ignore us).
        """
        rows = [(origin, r.name, r.rdtype, r.ttl, r.rdata) for r in records]
        try:
            async with self._transaction() as db:
                old = await db.execute_fetchall(
                    "SELECT serial FROM zones WHERE origin = ?", (origin,)
                )
                serial = soa.serial
                if old:
                    serial = max(serial, next_serial(int(next(iter(old))[0])))
                await self._db.execute(
                    "INSERT INTO zones(origin, mname, rname, serial, refresh, retry, expire,"
                    " minimum, soa_ttl, default_ttl, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(origin) DO UPDATE SET mname=excluded.mname,"
                    " rname=excluded.rname, serial=excluded.serial, refresh=excluded.refresh,"
                    " retry=excluded.retry, expire=excluded.expire, minimum=excluded.minimum,"
                    " soa_ttl=excluded.soa_ttl, default_ttl=excluded.default_ttl",
                    (
                        origin,
                        soa.mname,
                        soa.rname,
                        serial,
                        soa.refresh,
                        soa.retry,
                        soa.expire,
                        soa.minimum,
                        soa.ttl,
                        default_ttl,
                        time.time(),
                    ),
                )
                await self._db.execute("DELETE FROM records WHERE zone = ?", (origin,))
                await self._db.executemany(
                    "INSERT INTO records(zone, name, rdtype, ttl, rdata) VALUES (?,?,?,?,?)", rows
                )
                for sql, params in (self._changed(origin, None), self._audit(audit)):
                    await db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"zone import failed: {exc}") from exc
        return len(rows)

    async def remove_zone(self, origin: str, audit: AuditEntry) -> None:
        await self.zone(origin)
        await self._write(
            [
                ("DELETE FROM zones WHERE origin = ?", (origin,)),
                self._changed(origin, None),
                self._audit(audit),
            ]
        )

    async def records(self, origin: str) -> list[Record]:
        rows = await self._fetchall(
            "SELECT name, rdtype, ttl, rdata FROM records WHERE zone = ? ORDER BY id", (origin,)
        )
        return [Record(r[0], r[1], r[2], r[3]) for r in rows]

    async def records_at(self, origin: str, name: str) -> list[Record]:
        rows = await self._fetchall(
            "SELECT name, rdtype, ttl, rdata FROM records WHERE zone = ? AND name = ? ORDER BY id",
            (origin, name),
        )
        return [Record(r[0], r[1], r[2], r[3]) for r in rows]

    # -- hosts ----------------------------------------------------------------------

    async def add_host(self, host: HostRow, audit: AuditEntry) -> None:
        if await self.host(host.fqdn) is not None:
            raise ConflictError(f"host {host.fqdn} exists already")
        await self._write(
            [
                (
                    f"INSERT INTO hosts({_HOST_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        host.fqdn,
                        host.zone,
                        host.owner,
                        host.secret_sha256,
                        host.ipv4,
                        host.ipv6,
                        host.txt,
                        int(host.offline),
                        host.updated,
                        host.created or time.time(),
                        host.last_source,
                    ),
                ),
                self._changed(host.zone, host.fqdn),
                self._audit(audit),
            ]
        )

    async def host(self, fqdn: str) -> HostRow | None:
        rows = await self._fetchall(f"SELECT {_HOST_COLUMNS} FROM hosts WHERE fqdn = ?", (fqdn,))
        return _host(rows[0]) if rows else None

    async def host_by_secret(self, secret_sha256: str) -> HostRow | None:
        rows = await self._fetchall(
            f"SELECT {_HOST_COLUMNS} FROM hosts WHERE secret_sha256 = ?", (secret_sha256,)
        )
        return _host(rows[0]) if rows else None

    async def hosts(self, zone: str | None = None) -> list[HostRow]:
        if zone is None:
            rows = await self._fetchall(f"SELECT {_HOST_COLUMNS} FROM hosts ORDER BY fqdn")
        else:
            rows = await self._fetchall(
                f"SELECT {_HOST_COLUMNS} FROM hosts WHERE zone = ? ORDER BY fqdn", (zone,)
            )
        return [_host(r) for r in rows]

    async def remove_host(self, fqdn: str, audit: AuditEntry) -> None:
        host = await self.host(fqdn)
        if host is None:
            raise NotFoundError(f"no host {fqdn}")
        await self._write(
            [
                ("DELETE FROM hosts WHERE fqdn = ?", (fqdn,)),
                self._bump(host.zone),
                self._changed(host.zone, fqdn),
                self._audit(audit),
            ]
        )

    async def set_host_secret(self, fqdn: str, secret_sha256: str, audit: AuditEntry) -> None:
        host = await self.host(fqdn)
        if host is None:
            raise NotFoundError(f"no host {fqdn}")
        await self._write(
            [
                ("UPDATE hosts SET secret_sha256 = ? WHERE fqdn = ?", (secret_sha256, fqdn)),
                self._changed(host.zone, fqdn),
                self._audit(audit),
            ]
        )

    async def commit_host_states(
        self, hosts: Sequence[HostRow], audits: Sequence[AuditEntry]
    ) -> dict[str, int]:
        """Write new host states and their audit entries in one durable transaction.

        Bumps each touched zone's serial once and returns zone -> new serial.
        This is the group-commit path: one fsync for a whole batch of updates.
        """
        zones = sorted({h.zone for h in hosts})
        try:
            async with self._transaction() as db:
                await db.executemany(
                    "UPDATE hosts SET ipv4=?, ipv6=?, txt=?, offline=?, updated=?, last_source=?"
                    " WHERE fqdn=?",
                    [
                        (h.ipv4, h.ipv6, h.txt, int(h.offline), h.updated, h.last_source, h.fqdn)
                        for h in hosts
                    ],
                )
                await self._db.executemany(
                    "INSERT INTO audit(ts, actor, action, subject, detail, source)"
                    " VALUES (?,?,?,?,?,?)",
                    [(a.ts, a.actor, a.action, a.subject, a.detail, a.source) for a in audits],
                )
                serials: dict[str, int] = {}
                for zone in zones:
                    rows = await db.execute_fetchall(
                        "UPDATE zones SET serial = serial % ? + 1 WHERE origin = ?"
                        " RETURNING serial",
                        (SERIAL_MODULUS, zone),
                    )
                    for row in rows:
                        serials[zone] = int(row[0])
        except sqlite3.Error as exc:
            raise StoreError(f"update not stored: {exc}") from exc
        return serials

    # -- users ----------------------------------------------------------------------

    async def add_user(self, user: UserRow, audit: AuditEntry) -> None:
        if await self.user(user.name) is not None:
            raise ConflictError(f"user {user.name} exists already")
        await self._write(
            [
                (
                    "INSERT INTO users(name, password_hash, token_sha256, created)"
                    " VALUES (?,?,?,?)",
                    (user.name, user.password_hash, user.token_sha256, user.created),
                ),
                self._audit(audit),
            ]
        )

    async def user(self, name: str) -> UserRow | None:
        rows = await self._fetchall(
            "SELECT name, password_hash, token_sha256, created FROM users WHERE name = ?", (name,)
        )
        return UserRow(*rows[0]) if rows else None

    async def user_by_token(self, token_sha256: str) -> UserRow | None:
        rows = await self._fetchall(
            "SELECT name, password_hash, token_sha256, created FROM users WHERE token_sha256 = ?",
            (token_sha256,),
        )
        return UserRow(*rows[0]) if rows else None

    async def users(self) -> list[UserRow]:
        rows = await self._fetchall(
            "SELECT name, password_hash, token_sha256, created FROM users ORDER BY name"
        )
        return [UserRow(*r) for r in rows]

    async def remove_user(self, name: str, audit: AuditEntry) -> None:
        if await self.user(name) is None:
            raise NotFoundError(f"no user {name}")
        await self._write([("DELETE FROM users WHERE name = ?", (name,)), self._audit(audit)])

    async def update_user(self, user: UserRow, audit: AuditEntry) -> None:
        await self._write(
            [
                (
                    "UPDATE users SET password_hash = ?, token_sha256 = ? WHERE name = ?",
                    (user.password_hash, user.token_sha256, user.name),
                ),
                self._audit(audit),
            ]
        )

    # -- audit ----------------------------------------------------------------------

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        rows = await self._fetchall(
            "SELECT actor, action, subject, detail, source, ts FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [AuditEntry(*r) for r in rows]
