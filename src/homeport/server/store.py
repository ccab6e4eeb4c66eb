"""The server's store: the source of truth, one class over SQLite or PostgreSQL.

Admin commands and the running server open the same database. The server
notices other processes' commits (see :mod:`homeport.server.database` for how
each engine signals them) and replays the ``changes`` feed they append, so an
imported zone or a new host is served without a restart (docs/architecture.md,
server invariants). Updates are committed durably before they are acknowledged;
:mod:`homeport.server.service` batches concurrent updates into one
transaction (group commit) so durability does not cost one fsync per request.

The SQL here is written once, in SQLite's dialect with ``?`` placeholders
(upserts as ``ON CONFLICT``, which both engines speak); :mod:`.store_pg`
translates the rest.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.core.zone import Record, Soa
from homeport.errors import ConflictError, NotFoundError, StaleError, StoreError
from homeport.server.database import Database, Row, Transaction, open_database

SCHEMA_VERSION = 1

# RFC 1982 serial arithmetic: the serial lives in 1..2**32-1 and wraps past it.
SERIAL_MODULUS = 2**32 - 1
# Columns added after a database may have been created: (table, column, definition).
# Store.open adds any that are missing, so an older data directory keeps working.
ADDED_COLUMNS = (
    ("zones", "allow_private", "INTEGER NOT NULL DEFAULT 0"),
    ("hosts", "last_agent", "TEXT"),
    # 1: a server's update (host data only), 0: an admin command's change. A request
    # need only catch up with the latter before authenticating (FRESH_TOKEN_SQL).
    ("changes", "by_server", "INTEGER NOT NULL DEFAULT 0"),
    # The relay's addresses while the host has a live relay session (server/relay/).
    ("hosts", "relay_ipv4", "TEXT"),
    ("hosts", "relay_ipv6", "TEXT"),
)
# Made after ADDED_COLUMNS (an older database gets the column first): the newest admin
# change is one index probe however many server updates follow it.
ADDED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS changes_by_admin ON changes(seq) WHERE by_server = 0;",
)
# A change-feed entry in this "zone" says only accounts (users) changed: the reload
# that every outside change triggers picks them up; no zone needs reloading.
ACCOUNTS = ""
# Names per "IN (...)" list: under SQLite's default limit of 999 bound parameters.
IN_LIST_CHUNK = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS zones (
    origin TEXT PRIMARY KEY, mname TEXT NOT NULL, rname TEXT NOT NULL,
    serial INTEGER NOT NULL, refresh INTEGER NOT NULL, retry INTEGER NOT NULL,
    expire INTEGER NOT NULL, minimum INTEGER NOT NULL, soa_ttl INTEGER NOT NULL,
    default_ttl INTEGER NOT NULL, created REAL NOT NULL,
    allow_private INTEGER NOT NULL DEFAULT 0
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
    updated REAL, created REAL NOT NULL, last_source TEXT, last_agent TEXT,
    relay_ipv4 TEXT, relay_ipv6 TEXT
);
CREATE INDEX IF NOT EXISTS hosts_by_zone ON hosts(zone);
CREATE INDEX IF NOT EXISTS hosts_by_secret ON hosts(secret_sha256);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, zone TEXT NOT NULL, name TEXT
);
CREATE TABLE IF NOT EXISTS secondaries (
    name TEXT PRIMARY KEY, address TEXT NOT NULL, port INTEGER NOT NULL,
    algorithm TEXT NOT NULL, secret TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created REAL NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_failures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, instance TEXT NOT NULL,
    name TEXT, source TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, detail TEXT NOT NULL, source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit(subject, id);
CREATE TABLE IF NOT EXISTS challenges (
    zone TEXT NOT NULL REFERENCES zones(origin) ON DELETE CASCADE,
    host TEXT NOT NULL REFERENCES hosts(fqdn) ON DELETE CASCADE,
    name TEXT NOT NULL, value TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (name, value)
);
CREATE INDEX IF NOT EXISTS challenges_by_zone ON challenges(zone);
CREATE TABLE IF NOT EXISTS tsig_keys (
    host TEXT PRIMARY KEY REFERENCES hosts(fqdn) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE, algorithm TEXT NOT NULL, salt TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ssh_keys (
    host TEXT NOT NULL REFERENCES hosts(fqdn) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL, key TEXT NOT NULL, comment TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (host, fingerprint)
);
CREATE TABLE IF NOT EXISTS relay_ports (
    host TEXT NOT NULL REFERENCES hosts(fqdn) ON DELETE CASCADE,
    port INTEGER NOT NULL, public_port INTEGER NOT NULL UNIQUE, created REAL NOT NULL,
    PRIMARY KEY (host, port)
);
CREATE TABLE IF NOT EXISTS relay_sessions (
    host TEXT PRIMARY KEY REFERENCES hosts(fqdn) ON DELETE CASCADE,
    since REAL NOT NULL, transport TEXT NOT NULL, peer TEXT NOT NULL, tunnels TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS acmedns_accounts (
    username TEXT PRIMARY KEY, key_sha256 TEXT NOT NULL,
    host TEXT NOT NULL REFERENCES hosts(fqdn) ON DELETE CASCADE,
    subdomain TEXT NOT NULL UNIQUE, created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class ZoneRow:
    origin: str
    soa: Soa
    default_ttl: int
    allow_private: bool = False  # a LAN-only zone: updates may publish private addresses


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
    last_agent: str | None = None  # the User-Agent of the last update that changed something
    # While the host has a live relay session, DNS answers these instead of ipv4/ipv6.
    relay_ipv4: str | None = None
    relay_ipv6: str | None = None

    @property
    def relayed(self) -> bool:
        return self.relay_ipv4 is not None or self.relay_ipv6 is not None


@dataclass(frozen=True)
class RelaySessionRow:
    """A live relay session, for ``homeport server status`` (gone when the session ends)."""

    host: str
    since: float
    transport: str  # "native" or "ssh"
    peer: str  # the agent's address as the relay saw it
    tunnels: str  # "http:80 tls:443 tcp:22->20000"


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
class SecondaryRow:
    """A secondary fed by zone transfer; ``secret`` is its TSIG key (base64), never logged."""

    name: str
    address: str
    port: int
    algorithm: str
    secret: str = dataclasses.field(repr=False)
    created: float = 0.0


@dataclass(frozen=True)
class Change:
    """One entry of the change feed: ``name`` None means the whole zone."""

    seq: int
    zone: str
    name: str | None


@dataclass(frozen=True)
class ChallengeRow:
    """One ACME challenge TXT value at ``name`` (``_acme-challenge.…``), until ``expires``."""

    zone: str
    host: str  # the host whose credentials put it there
    name: str
    value: str
    expires: float


@dataclass(frozen=True)
class TsigKeyRow:
    """A host's TSIG key; the secret is derived from ``salt`` (see :mod:`.tsigkeys`)."""

    host: str
    name: str  # the key name, absolute with the dot
    algorithm: str  # dnspython's name: hmac-sha256. ...
    salt: str
    created: float


@dataclass(frozen=True)
class SshKeyRow:
    """A public key that may open the relay's ``ssh -R`` tunnels as ``host``."""

    host: str
    fingerprint: str  # OpenSSH's "SHA256:..." (what ``ssh-keygen -l`` prints)
    key: str  # "ssh-ed25519 AAAA...": the OpenSSH public key line without its comment
    comment: str
    created: float


@dataclass(frozen=True)
class AcmeDnsAccount:
    """An acme-dns registration: lets ``username``/key update ``host``'s challenge."""

    username: str
    key_sha256: str
    host: str
    subdomain: str
    created: float


def next_serial(serial: int) -> int:
    """RFC 1982 increment: 2**32-1 wraps to 1 (0 is avoided: some secondaries mistrust it)."""
    return serial % SERIAL_MODULUS + 1


def same_host_data(a: HostRow, b: HostRow) -> bool:
    """Whether two states of a host publish the same data."""
    return (a.ipv4, a.ipv6, a.txt, a.offline, a.relay_ipv4, a.relay_ipv6) == (
        b.ipv4,
        b.ipv6,
        b.txt,
        b.offline,
        b.relay_ipv4,
        b.relay_ipv6,
    )


def _host(row: Row) -> HostRow:
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
        last_agent=row[11],
        relay_ipv4=row[12],
        relay_ipv6=row[13],
    )


_HOST_COLUMNS = (
    "fqdn, zone, owner, secret_sha256, ipv4, ipv6, txt, offline, updated, created, last_source,"
    " last_agent, relay_ipv4, relay_ipv6"
)


async def _bump_serial(tx: Transaction, zone: str) -> dict[str, int]:
    """Zone ``zone``'s serial one more (RFC 1982 arithmetic), in ``tx``; zone -> new serial."""
    rows = await tx.fetchall(
        "UPDATE zones SET serial = serial % ? + 1 WHERE origin = ? RETURNING serial",
        (SERIAL_MODULUS, zone),
    )
    return {zone: int(rows[0][0])} if rows else {}


def _zone(row: Row) -> ZoneRow:
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
        allow_private=bool(row[10]),
    )


_ZONE_COLUMNS = (
    "origin, mname, rname, serial, refresh, retry, expire, minimum, soa_ttl, default_ttl,"
    " allow_private"
)


class Store:
    """Async access to the server's database (SQLite in the data directory, or PostgreSQL)."""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self.data_dir = data_dir
        self.location = db.location  # safe to print: never holds a password

    @classmethod
    async def open(
        cls, data_dir: Path, *, announce: bool = False, database: str | None = None
    ) -> Store:
        """Open (creating the schema if needed) the store.

        ``database``: a ``postgresql://`` URL, or None for SQLite in ``data_dir``.
        ``announce``: tell running servers of this process's commits (admin commands).
        """
        db = await open_database(data_dir, database, announce=announce)
        try:
            await db.setup(SCHEMA)
            for table, column, definition in ADDED_COLUMNS:
                try:
                    await db.fetchall(f"SELECT {column} FROM {table} LIMIT 0")
                except StoreError:
                    await db.setup(f"ALTER TABLE {table} ADD COLUMN {column} {definition};")
            for index in ADDED_INDEXES:
                await db.setup(index)
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (str(SCHEMA_VERSION),),
                )
        except BaseException:
            await db.close()
            raise
        return cls(db, data_dir)

    async def claim_server(self) -> None:
        """Refuse (StoreError) if another server runs on this store; see Database."""
        await self._db.claim_server()

    async def close(self) -> None:
        await self._db.close()

    # -- transactions ---------------------------------------------------------------

    async def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        async with self._db.transaction() as tx:
            for sql, params in statements:
                await tx.execute(sql, params)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._db.fetchall(sql, params)

    # -- change feed ----------------------------------------------------------------

    async def commit_token(self) -> int:
        """Changes whenever another process has committed (see :mod:`.database`)."""
        return await self._db.commit_token()

    async def fresh_token(self) -> int:
        """Like :meth:`commit_token`, cheap enough to ask before every request."""
        return await self._db.fresh_token()

    async def on_outside_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` soon after another process commits (PostgreSQL's NOTIFY)."""
        await self._db.on_outside_change(callback)

    async def last_change(self) -> int:
        rows = await self._fetchall("SELECT COALESCE(MAX(seq), 0) FROM changes")
        return int(rows[0][0])

    async def changes_since(self, seq: int) -> list[Change]:
        rows = await self._fetchall(
            "SELECT seq, zone, name FROM changes WHERE seq > ? ORDER BY seq", (seq,)
        )
        return [Change(r[0], r[1], r[2]) for r in rows]

    async def changed_names_since(self, seq: int) -> list[Change]:
        """Each (zone, name) changed after ``seq`` once, at its newest seq, oldest first.

        What a server following the feed needs: a name updated a thousand times since
        it last looked (a SQLite server looks only when an admin command commits) is
        one row, not a thousand.
        """
        rows = await self._fetchall(
            "SELECT MAX(seq), zone, name FROM changes WHERE seq > ? GROUP BY zone, name ORDER BY 1",
            (seq,),
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
        self,
        origin: str,
        soa: Soa,
        default_ttl: int,
        records: Iterable[Record],
        audit: AuditEntry,
        *,
        allow_private: bool = False,
    ) -> None:
        if await self._fetchall("SELECT 1 FROM zones WHERE origin = ?", (origin,)):
            raise ConflictError(f"zone {origin} exists already")
        await self.import_zone(
            origin, soa, default_ttl, records, audit, allow_private=allow_private
        )

    async def set_zone_allow_private(self, origin: str, allow: bool, audit: AuditEntry) -> None:
        """Let updates in ``origin`` publish private addresses (a LAN-only zone), or not."""
        await self.zone(origin)
        await self._write(
            [
                ("UPDATE zones SET allow_private = ? WHERE origin = ?", (int(allow), origin)),
                self._changed(origin, None),
                self._audit(audit),
            ]
        )

    async def import_zone(
        self,
        origin: str,
        soa: Soa,
        default_ttl: int,
        records: Iterable[Record],
        audit: AuditEntry,
        *,
        allow_private: bool = False,
    ) -> int:
        """Create or replace a zone's static records in one transaction; returns their count.

        The serial never goes backwards: an imported SOA serial lower than the
        stored one is raised past it (secondaries would otherwise ignore us).
        ``allow_private`` applies to a new zone; an existing one keeps its setting.
        """
        rows = [(origin, r.name, r.rdtype, r.ttl, r.rdata) for r in records]
        async with self._db.transaction() as tx:
            old = await tx.fetchall("SELECT serial FROM zones WHERE origin = ?", (origin,))
            serial = soa.serial
            if old:
                serial = max(serial, next_serial(int(old[0][0])))
            await tx.execute(
                "INSERT INTO zones(origin, mname, rname, serial, refresh, retry, expire,"
                " minimum, soa_ttl, default_ttl, created, allow_private)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
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
                    int(allow_private),
                ),
            )
            await tx.execute("DELETE FROM records WHERE zone = ?", (origin,))
            await tx.executemany(
                "INSERT INTO records(zone, name, rdtype, ttl, rdata) VALUES (?,?,?,?,?)", rows
            )
            for sql, params in (self._changed(origin, None), self._audit(audit)):
                await tx.execute(sql, params)
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

    async def records_named(
        self, names: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[Record]]:
        """The static records at each (zone, name) of ``names`` (absent: none)."""
        by_zone: dict[str, list[str]] = {}
        for zone, name in names:
            by_zone.setdefault(zone, []).append(name)
        found: dict[tuple[str, str], list[Record]] = {}
        for zone, in_zone in sorted(by_zone.items()):
            for i in range(0, len(in_zone), IN_LIST_CHUNK):
                chunk = in_zone[i : i + IN_LIST_CHUNK]
                rows = await self._fetchall(
                    "SELECT name, rdtype, ttl, rdata FROM records"
                    f" WHERE zone = ? AND name IN ({','.join('?' * len(chunk))}) ORDER BY id",
                    (zone, *chunk),
                )
                for r in rows:
                    found.setdefault((zone, r[0]), []).append(Record(r[0], r[1], r[2], r[3]))
        return found

    # -- hosts ----------------------------------------------------------------------

    async def add_host(self, host: HostRow, audit: AuditEntry) -> None:
        if await self.host(host.fqdn) is not None:
            raise ConflictError(f"host {host.fqdn} exists already")
        await self._write(
            [
                (
                    f"INSERT INTO hosts({_HOST_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                        host.last_agent,
                        host.relay_ipv4,
                        host.relay_ipv6,
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

    async def hosts_named(self, fqdns: Sequence[str]) -> list[HostRow]:
        """The hosts among ``fqdns`` (absent names are skipped)."""
        found: list[HostRow] = []
        for i in range(0, len(fqdns), IN_LIST_CHUNK):
            chunk = fqdns[i : i + IN_LIST_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self._fetchall(
                f"SELECT {_HOST_COLUMNS} FROM hosts WHERE fqdn IN ({marks})", chunk
            )
            found.extend(_host(r) for r in rows)
        return found

    async def commit_host_states(
        self,
        hosts: Sequence[HostRow],
        audits: Sequence[AuditEntry],
        *,
        expect: Sequence[HostRow] = (),
    ) -> dict[str, int]:
        """Write new host states and their audit entries in one durable transaction.

        Bumps each touched zone's serial once and returns zone -> new serial; appends
        each host to the ``changes`` feed, so other server instances on the same
        database serve it too. This is the group-commit path: one fsync for a whole
        batch of updates.

        ``expect``: the states the new ones were decided from (changed or not). If the
        store holds other data for any of them (another instance committed since),
        nothing is written (StaleError): read them again and decide again.
        """
        zones = sorted({h.zone for h in hosts})
        serials: dict[str, int] = {}
        async with self._db.transaction() as tx:
            if expect:
                # Read under the write lock: no other instance can commit in between.
                names = [h.fqdn for h in expect]
                current: dict[str, HostRow] = {}
                for i in range(0, len(names), IN_LIST_CHUNK):
                    chunk = names[i : i + IN_LIST_CHUNK]
                    rows = await tx.fetchall(
                        f"SELECT {_HOST_COLUMNS} FROM hosts"
                        f" WHERE fqdn IN ({','.join('?' * len(chunk))})",
                        chunk,
                    )
                    current.update((r[0], _host(r)) for r in rows)
                stale = [
                    h.fqdn
                    for h in expect
                    if h.fqdn not in current or not same_host_data(current[h.fqdn], h)
                ]
                if stale:
                    raise StaleError(f"{len(stale)} host(s) changed by another server")
            await tx.executemany(
                "UPDATE hosts SET ipv4=?, ipv6=?, txt=?, offline=?, updated=?, last_source=?,"
                " last_agent=? WHERE fqdn=?",
                [
                    (
                        h.ipv4,
                        h.ipv6,
                        h.txt,
                        int(h.offline),
                        h.updated,
                        h.last_source,
                        h.last_agent,
                        h.fqdn,
                    )
                    for h in hosts
                ],
            )
            await tx.executemany(
                "INSERT INTO audit(ts, actor, action, subject, detail, source)"
                " VALUES (?,?,?,?,?,?)",
                [(a.ts, a.actor, a.action, a.subject, a.detail, a.source) for a in audits],
            )
            await tx.executemany(
                "INSERT INTO changes(zone, name, by_server) VALUES (?, ?, 1)",
                [(h.zone, h.fqdn) for h in hosts],
            )
            for zone in zones:
                serials.update(await _bump_serial(tx, zone))
        return serials

    # -- relay ----------------------------------------------------------------------

    async def relay_port(self, host: str, port: int, low: int, high: int) -> int | None:
        """``host``'s public tcp port for its tunnel ``port``, allocated on first use.

        A ``port`` within ``low``-``high`` is the public port wanted: ConflictError if
        another host holds it. Any other ``port`` names the tunnel: it keeps the public
        port it got the first time (the lowest free one then). None: the range is used up.
        """
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT public_port FROM relay_ports WHERE host = ? AND port = ?", (host, port)
            )
            if rows and low <= int(rows[0][0]) <= high:
                return int(rows[0][0])
            if rows:  # the range changed since: allocate again
                await tx.execute(
                    "DELETE FROM relay_ports WHERE host = ? AND port = ?", (host, port)
                )
            if low <= port <= high:
                holder = await tx.fetchall(
                    "SELECT host FROM relay_ports WHERE public_port = ?", (port,)
                )
                if holder and holder[0][0] != host:
                    raise ConflictError(f"tcp port {port} belongs to another host")
                if not holder:
                    await tx.execute(
                        "INSERT INTO relay_ports(host, port, public_port, created)"
                        " VALUES (?, ?, ?, ?)",
                        (host, port, port, time.time()),
                    )
                return port
            used = {
                int(r[0])
                for r in await tx.fetchall(
                    "SELECT public_port FROM relay_ports WHERE public_port BETWEEN ? AND ?",
                    (low, high),
                )
            }
            free = next((p for p in range(low, high + 1) if p not in used), None)
            if free is not None:
                await tx.execute(
                    "INSERT INTO relay_ports(host, port, public_port, created) VALUES (?, ?, ?, ?)",
                    (host, port, free, time.time()),
                )
            return free

    async def relay_ports(self) -> list[tuple[str, int, int]]:
        """Every stored (host, tunnel port, public port)."""
        rows = await self._fetchall(
            "SELECT host, port, public_port FROM relay_ports ORDER BY host, port"
        )
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    async def set_relay(
        self,
        host: HostRow,
        session: RelaySessionRow | None,
        audit: AuditEntry,
        *,
        bump: bool = True,
    ) -> dict[str, int]:
        """Store ``host``'s relay addresses (its relay_ipv4/6) and its session (None: gone).

        Like an update: bumps the zone's serial (secondaries follow by IXFR/NOTIFY) and
        appends the name to the change feed (``bump`` False: the addresses did not
        change, only the session did). Returns zone -> new serial.
        """
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE hosts SET relay_ipv4 = ?, relay_ipv6 = ? WHERE fqdn = ?",
                (host.relay_ipv4, host.relay_ipv6, host.fqdn),
            )
            await tx.execute("DELETE FROM relay_sessions WHERE host = ?", (host.fqdn,))
            if session is not None:
                await tx.execute(
                    "INSERT INTO relay_sessions(host, since, transport, peer, tunnels)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (host.fqdn, session.since, session.transport, session.peer, session.tunnels),
                )
            sql, params = self._audit(audit)
            await tx.execute(sql, params)
            if not bump:
                return {}
            await tx.execute(
                "INSERT INTO changes(zone, name, by_server) VALUES (?, ?, 1)",
                (host.zone, host.fqdn),
            )
            return await _bump_serial(tx, host.zone)

    async def clear_relays(self) -> list[str]:
        """Forget every relay session (a starting server has none): the hosts it names."""
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT fqdn, zone FROM hosts WHERE relay_ipv4 IS NOT NULL"
                " OR relay_ipv6 IS NOT NULL"
            )
            if not rows:
                await tx.execute("DELETE FROM relay_sessions")
                return []
            await tx.execute(
                "UPDATE hosts SET relay_ipv4 = NULL, relay_ipv6 = NULL"
                " WHERE relay_ipv4 IS NOT NULL OR relay_ipv6 IS NOT NULL"
            )
            await tx.execute("DELETE FROM relay_sessions")
            await tx.executemany(
                "INSERT INTO changes(zone, name, by_server) VALUES (?, ?, 1)",
                [(r[1], r[0]) for r in rows],
            )
            for zone in sorted({r[1] for r in rows}):
                await _bump_serial(tx, zone)
        return [r[0] for r in rows]

    async def relay_sessions(self) -> list[RelaySessionRow]:
        rows = await self._fetchall(
            "SELECT host, since, transport, peer, tunnels FROM relay_sessions ORDER BY host"
        )
        return [RelaySessionRow(r[0], float(r[1]), r[2], r[3], r[4]) for r in rows]

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
                self._changed(ACCOUNTS, user.name),
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
        await self._write(
            [
                ("DELETE FROM users WHERE name = ?", (name,)),
                self._changed(ACCOUNTS, name),
                self._audit(audit),
            ]
        )

    async def update_user(self, user: UserRow, audit: AuditEntry) -> None:
        await self._write(
            [
                (
                    "UPDATE users SET password_hash = ?, token_sha256 = ? WHERE name = ?",
                    (user.password_hash, user.token_sha256, user.name),
                ),
                self._changed(ACCOUNTS, user.name),
                self._audit(audit),
            ]
        )

    # -- secondaries (zone transfer peers; their TSIG keys are theirs alone) -----------

    async def add_secondary(self, row: SecondaryRow, audit: AuditEntry) -> None:
        if any(s.name == row.name for s in await self.secondaries()):
            raise ConflictError(f"secondary {row.name} exists already")
        await self._write(
            [
                (
                    "INSERT INTO secondaries(name, address, port, algorithm, secret, created)"
                    " VALUES (?,?,?,?,?,?)",
                    (row.name, row.address, row.port, row.algorithm, row.secret, row.created),
                ),
                self._changed(ACCOUNTS, None),  # running servers reload their keyring
                self._audit(audit),
            ]
        )

    async def secondaries(self) -> list[SecondaryRow]:
        rows = await self._fetchall(
            "SELECT name, address, port, algorithm, secret, created FROM secondaries ORDER BY name"
        )
        return [SecondaryRow(r[0], r[1], int(r[2]), r[3], r[4], r[5]) for r in rows]

    async def remove_secondary(self, name: str, audit: AuditEntry) -> None:
        if not any(s.name == name for s in await self.secondaries()):
            raise NotFoundError(f"no secondary {name}")
        await self._write(
            [
                ("DELETE FROM secondaries WHERE name = ?", (name,)),
                self._changed(ACCOUNTS, None),
                self._audit(audit),
            ]
        )

    # -- dashboard sessions -----------------------------------------------------------
    # Only the session id's SHA-256 is stored: a copy of the database signs nobody in.

    async def add_session(self, id_sha256: str, username: str, now: float, expires: float) -> None:
        await self._write(
            [
                (
                    "INSERT INTO sessions(id_sha256, username, created, expires) VALUES (?,?,?,?)",
                    (id_sha256, username, now, expires),
                ),
                # Expired sessions go whenever a new one starts: the table stays small.
                ("DELETE FROM sessions WHERE expires <= ?", (now,)),
            ]
        )

    async def session_user(self, id_sha256: str, now: float) -> str | None:
        """The account signed in with this session, if it exists and has not expired."""
        rows = await self._fetchall(
            "SELECT username FROM sessions WHERE id_sha256 = ? AND expires > ?", (id_sha256, now)
        )
        return str(rows[0][0]) if rows else None

    async def remove_session(self, id_sha256: str) -> None:
        await self._write([("DELETE FROM sessions WHERE id_sha256 = ?", (id_sha256,))])

    async def remove_other_sessions(self, username: str, keep_sha256: str) -> None:
        """Sign the account out everywhere else (after its password changed)."""
        await self._write(
            [
                (
                    "DELETE FROM sessions WHERE username = ? AND id_sha256 <> ?",
                    (username, keep_sha256),
                )
            ]
        )

    # -- failed logins shared by server instances (server/shared_limits.py) -----------

    async def record_auth_failures(
        self,
        instance: str,
        failures: Sequence[tuple[float, str | None, str | None]],
        forget_before: float,
    ) -> None:
        """Append (at, name, source) budget keys; delete rows older than ``forget_before``."""
        async with self._db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO auth_failures(at, instance, name, source) VALUES (?,?,?,?)",
                [(at, instance, name, source) for at, name, source in failures],
            )
            await tx.execute("DELETE FROM auth_failures WHERE at < ?", (forget_before,))

    async def auth_failures_since(
        self, seq: int, instance: str
    ) -> list[tuple[int, str | None, str | None]]:
        """(seq, name, source) of the failures other instances wrote after ``seq``."""
        rows = await self._fetchall(
            "SELECT seq, name, source FROM auth_failures WHERE seq > ? AND instance <> ?"
            " ORDER BY seq",
            (seq, instance),
        )
        return [(int(r[0]), r[1], r[2]) for r in rows]

    async def last_auth_failure(self) -> int:
        rows = await self._fetchall("SELECT COALESCE(MAX(seq), 0) FROM auth_failures")
        return int(rows[0][0])

    @property
    def shared(self) -> bool:
        """Whether several servers may run on this store (PostgreSQL)."""
        return self.location.startswith(("postgresql:", "postgres:"))

    # -- audit ----------------------------------------------------------------------

    async def host_history(self, fqdn: str, limit: int = 50) -> list[AuditEntry]:
        """The host's accepted updates, newest first (each one changed its data)."""
        rows = await self._fetchall(
            "SELECT actor, action, subject, detail, source, ts FROM audit"
            " WHERE subject = ? AND action = 'update' ORDER BY id DESC LIMIT ?",
            (fqdn, limit),
        )
        return [AuditEntry(*r) for r in rows]

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        rows = await self._fetchall(
            "SELECT actor, action, subject, detail, source, ts FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [AuditEntry(*r) for r in rows]

    # -- ACME challenges, TSIG keys, acme-dns accounts --------------------------------

    async def challenges(self, now: float) -> list[ChallengeRow]:
        """Every challenge value not yet expired at ``now``."""
        rows = await self._fetchall(
            "SELECT zone, host, name, value, expires FROM challenges WHERE expires > ?"
            " ORDER BY name, expires",
            (now,),
        )
        return [ChallengeRow(*r) for r in rows]

    async def challenges_named(self, names: Sequence[str], now: float) -> list[ChallengeRow]:
        """The values at ``names`` not yet expired at ``now`` (another instance's writes)."""
        found: list[ChallengeRow] = []
        for i in range(0, len(names), IN_LIST_CHUNK):
            chunk = list(names[i : i + IN_LIST_CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = await self._fetchall(
                "SELECT zone, host, name, value, expires FROM challenges"
                f" WHERE name IN ({marks}) AND expires > ? ORDER BY name, expires",
                (*chunk, now),
            )
            found.extend(ChallengeRow(*r) for r in rows)
        return found

    async def commit_challenges(
        self,
        adds: Sequence[ChallengeRow],
        removes: Sequence[tuple[str, str]],
        expired_before: float | None,
        zones: Iterable[str],
        audits: Sequence[AuditEntry],
        changed: Sequence[tuple[str, str]] = (),
    ) -> dict[str, int]:
        """Add (or renew) and remove challenge values in one durable transaction.

        ``removes``: (name, value) pairs; ``expired_before``: also drop every value
        that expires by then. Bumps each of ``zones``' serial once; returns zone -> serial.
        ``changed``: the (zone, name) pairs whose values changed, entered in the change
        feed so that other server instances on the same database serve them too.
        """
        serials: dict[str, int] = {}
        async with self._db.transaction() as tx:
            if expired_before is not None:
                await tx.execute("DELETE FROM challenges WHERE expires <= ?", (expired_before,))
            await tx.executemany(
                "DELETE FROM challenges WHERE name = ? AND value = ?", list(removes)
            )
            await tx.executemany(
                "INSERT INTO challenges(zone, host, name, value, expires) VALUES (?,?,?,?,?)"
                " ON CONFLICT (name, value) DO UPDATE SET expires = excluded.expires,"
                " host = excluded.host",
                [(c.zone, c.host, c.name, c.value, c.expires) for c in adds],
            )
            await tx.executemany(
                "INSERT INTO audit(ts, actor, action, subject, detail, source)"
                " VALUES (?,?,?,?,?,?)",
                [(a.ts, a.actor, a.action, a.subject, a.detail, a.source) for a in audits],
            )
            await tx.executemany(
                "INSERT INTO changes(zone, name, by_server) VALUES (?, ?, 1)", list(changed)
            )
            for zone in sorted(set(zones)):
                serials.update(await _bump_serial(tx, zone))
        return serials

    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Audit entries alone (refusals: nothing else changes)."""
        await self._write([self._audit(e) for e in entries])

    async def set_tsig_key(self, key: TsigKeyRow, audit: AuditEntry) -> None:
        """Create or replace ``key.host``'s TSIG key (the old one stops working)."""
        await self._write(
            [
                ("DELETE FROM tsig_keys WHERE host = ? OR name = ?", (key.host, key.name)),
                (
                    "INSERT INTO tsig_keys(host, name, algorithm, salt, created)"
                    " VALUES (?,?,?,?,?)",
                    (key.host, key.name, key.algorithm, key.salt, key.created),
                ),
                self._changed(ACCOUNTS, key.host),
                self._audit(audit),
            ]
        )

    async def tsig_keys(self) -> list[TsigKeyRow]:
        rows = await self._fetchall(
            "SELECT host, name, algorithm, salt, created FROM tsig_keys ORDER BY host"
        )
        return [TsigKeyRow(*r) for r in rows]

    async def add_ssh_key(self, row: SshKeyRow, audit: AuditEntry) -> None:
        """Let ``row.key`` open ``row.host``'s ssh tunnels; ConflictError if it already may."""
        if await self.host(row.host) is None:
            raise NotFoundError(f"no host {row.host}")
        if any(k.fingerprint == row.fingerprint for k in await self.ssh_keys(row.host)):
            raise ConflictError(f"host {row.host} already has key {row.fingerprint}")
        await self._write(
            [
                (
                    "INSERT INTO ssh_keys(host, fingerprint, key, comment, created)"
                    " VALUES (?,?,?,?,?)",
                    (row.host, row.fingerprint, row.key, row.comment, row.created),
                ),
                self._audit(audit),
            ]
        )

    async def ssh_keys(self, host: str) -> list[SshKeyRow]:
        rows = await self._fetchall(
            "SELECT host, fingerprint, key, comment, created FROM ssh_keys WHERE host = ?"
            " ORDER BY created, fingerprint",
            (host,),
        )
        return [SshKeyRow(*r) for r in rows]

    async def remove_ssh_key(self, host: str, fingerprint: str, audit: AuditEntry) -> None:
        if not any(k.fingerprint == fingerprint for k in await self.ssh_keys(host)):
            raise NotFoundError(f"host {host} has no ssh key {fingerprint}")
        await self._write(
            [
                (
                    "DELETE FROM ssh_keys WHERE host = ? AND fingerprint = ?",
                    (host, fingerprint),
                ),
                self._audit(audit),
            ]
        )

    async def add_acmedns_account(self, account: AcmeDnsAccount, audit: AuditEntry) -> None:
        await self._write(
            [
                (
                    "INSERT INTO acmedns_accounts(username, key_sha256, host, subdomain, created)"
                    " VALUES (?,?,?,?,?)",
                    (
                        account.username,
                        account.key_sha256,
                        account.host,
                        account.subdomain,
                        account.created,
                    ),
                ),
                self._audit(audit),
            ]
        )

    async def acmedns_account(self, username: str) -> AcmeDnsAccount | None:
        rows = await self._fetchall(
            "SELECT username, key_sha256, host, subdomain, created FROM acmedns_accounts"
            " WHERE username = ?",
            (username,),
        )
        return AcmeDnsAccount(*rows[0]) if rows else None

    async def remove_acmedns_account(self, username: str, audit: AuditEntry) -> None:
        await self._write(
            [
                ("DELETE FROM acmedns_accounts WHERE username = ?", (username,)),
                self._audit(audit),
            ]
        )
