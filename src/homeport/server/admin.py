"""Administering a server's store: zones, hosts, users, the audit log, the demo setup.

The policy lives here (what a valid name is, how a zone starts, which zone a
host belongs to, what a password must be) and every admin change is written
with its audit entry. ``homeport server`` commands only parse their arguments,
call one function here inside :func:`with_store`, and print the result.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from homeport.core.hostdata import address_problem, name_problem
from homeport.core.zone import Catalog, Record, Soa
from homeport.errors import ConfigError, HomeportError, NotFoundError, UsageError
from homeport.proto import dyndns2
from homeport.server import auth, tsigkeys
from homeport.server.config import (
    DEFAULT_EXPIRE,
    DEFAULT_REFRESH,
    DEFAULT_RETRY,
    DEFAULT_SOA_MINIMUM,
    DEFAULT_SOA_TTL,
    DEFAULT_TTL,
)
from homeport.server.store import AuditEntry, HostRow, Store, TsigKeyRow, UserRow, ZoneRow

T = TypeVar("T")

ADMIN = "admin"  # the actor admin changes are audited as

DEMO_ZONE = "dyn.example.net."  # RFC 2606: example.net is reserved for documentation
DEMO_HOST = "myhome.dyn.example.net."
DEMO_SECRET_FILE = "demo-secret"  # noqa: S105 - a file name, not a secret
# Enough that a typed password is not trivially guessed; argon2 does the rest.
MIN_PASSWORD_LENGTH = 8
# RFC 7617 §2: the user-id of Basic auth cannot contain a colon; whitespace and
# control characters would not survive clients' config files or our logs.
MAX_USER_NAME_LENGTH = 64


def with_store(data: Path, work: Callable[[Store], Awaitable[T]], *, database: str | None) -> T:
    """Open the store (as an admin: it announces its changes), run ``work``, close it."""

    async def go() -> T:
        store = await Store.open(data, announce=True, database=database)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def _audit(action: str, subject: str, detail: str = "") -> AuditEntry:
    return AuditEntry(actor=ADMIN, action=action, subject=subject, detail=detail, ts=time.time())


# -- names ----------------------------------------------------------------------------


def absolute(name: str, *, min_labels: int = 2) -> str:
    """``name`` lower case with the trailing dot; UsageError unless it is a valid DNS name.

    The same rule as updates (:func:`homeport.core.hostdata.name_problem`): what an
    admin command stores, the server must be able to serve after any restart.
    """
    name = name.strip().lower()
    if not name or name == ".":
        raise UsageError("a name is required")
    problem = name_problem(name.removesuffix("."), min_labels=min_labels)
    if problem is not None:
        raise UsageError(f"not a valid name: {name[:80]!r}: {problem}")
    return name if name.endswith(".") else name + "."


def zone_origin(name: str) -> str:
    """A zone's origin: like :func:`absolute`, one label allowed (a LAN zone ``lan.``)."""
    return absolute(name, min_labels=1)


# -- zones ----------------------------------------------------------------------------


def _check_renders(origin: str, soa: Soa, records: list[Record]) -> None:
    """UsageError unless the server can serve the zone exactly as it will be stored."""
    try:
        Catalog().load_zone(origin, soa, records)
    except HomeportError as exc:
        raise UsageError(f"zone {origin} cannot be served: {exc}") from exc


def parse_ns(origin: str, ns: list[str], ttl: int) -> tuple[list[str], list[Record]]:
    """``--ns NAME[=IP]`` values: the NS names and their records (NS, in-zone glue)."""
    names: list[str] = []
    records: list[Record] = []
    for item in ns:
        name, _, address = item.partition("=")
        try:
            name = absolute(name)
        except UsageError as exc:
            raise UsageError(f"--ns {item[:80]!r}: {exc}") from None
        names.append(name)
        records.append(Record(origin, "NS", ttl, name))
        if address:
            try:
                ip = dyndns2.parse_address(address)
            except ValueError:
                raise UsageError(f"--ns {item}: {address!r} is not an IP address") from None
            problem = address_problem(ip, allow_private=True)
            if problem is not None:
                raise UsageError(f"--ns {item}: {problem}")
            if not (name == origin or name.endswith("." + origin)):
                raise UsageError(f"--ns {item}: glue only for names inside {origin}")
            records.append(Record(name, "A" if ip.version == 4 else "AAAA", ttl, str(ip)))
    return names, records


async def add_zone(
    store: Store, origin: str, ns: list[str], ttl: int, *, allow_private: bool = False
) -> Soa:
    """Create zone ``origin`` with its SOA and NS records (``ns`` empty: ``ns1.<origin>``)."""
    ns = ns or [f"ns1.{origin}"]
    names, records = parse_ns(origin, ns, DEFAULT_SOA_TTL)
    # Date-based start (YYYYMMDDnn, RFC 1912 §2.2), then +1 per change.
    serial = int(datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")) * 100 + 1
    soa = Soa(
        mname=names[0],
        rname=f"hostmaster.{origin}",
        serial=serial,
        refresh=DEFAULT_REFRESH,
        retry=DEFAULT_RETRY,
        expire=DEFAULT_EXPIRE,
        minimum=DEFAULT_SOA_MINIMUM,
        ttl=DEFAULT_SOA_TTL,
    )
    _check_renders(origin, soa, records)
    await store.add_zone(
        origin, soa, ttl, records, _audit("zone add", origin), allow_private=allow_private
    )
    return soa


async def set_zone_allow_private(store: Store, origin: str, allow_private: bool) -> None:
    detail = f"allow_private={allow_private}"
    await store.set_zone_allow_private(origin, allow_private, _audit("zone set", origin, detail))


@dataclass(frozen=True)
class CheckedZone:
    """A zone file read and checked, ready to import."""

    origin: str
    soa: Soa
    records: list[Record]
    served: int  # records the server will serve (duplicates merged)
    duplicates: int


def check_zone_file(path: Path, origin: str) -> CheckedZone:
    """Read an RFC 1035 master file as zone ``origin``; ConfigError at the first record
    that would not be served exactly as written (see :mod:`homeport.core.zone_check`)."""
    from homeport.core.zone_check import Refused, check_import
    from homeport.server.zonefile import load_zone_file

    parsed = load_zone_file(path, origin)
    # check_import builds the zone exactly as the server will (no _check_renders needed).
    checked = check_import(origin, parsed.soa, parsed.records)
    if isinstance(checked, Refused):
        also = f" (see line {parsed.lines[checked.other]})" if checked.other is not None else ""
        where = parsed.filename if checked.index is None else parsed.where(checked.index)
        raise ConfigError(f"{where}: {checked.reason}{also}")
    return CheckedZone(origin, parsed.soa, parsed.records, checked.served, checked.duplicates)


async def import_zone(store: Store, zone: CheckedZone, ttl: int, source: str) -> int:
    """Replace zone ``zone.origin``'s records; how many were stored."""
    return await store.import_zone(
        zone.origin, zone.soa, ttl, zone.records, _audit("zone import", zone.origin, source)
    )


async def zones(store: Store) -> list[ZoneRow]:
    return await store.zones()


async def remove_zone(store: Store, origin: str) -> None:
    await store.remove_zone(origin, _audit("zone rm", origin))


# -- hosts ----------------------------------------------------------------------------


def zone_for(zones: list[str], fqdn: str) -> str:
    """The most specific of ``zones`` containing ``fqdn``; NotFoundError if none does."""
    best = [z for z in zones if fqdn == z or fqdn.endswith("." + z)]
    if not best:
        raise NotFoundError(f"no zone contains {fqdn}; add one with `homeport server zone add`")
    return max(best, key=len)


async def add_host(store: Store, name: str, owner: str | None) -> str:
    """Add host ``name`` (absolute) in the zone containing it; its new secret."""
    zone = zone_for([z.origin for z in await store.zones()], name)
    if name == zone:
        raise UsageError("a host cannot be the zone apex; use a name inside the zone")
    if owner is not None and await store.user(owner) is None:
        raise NotFoundError(f"no user {owner}")
    secret = auth.new_secret()
    await store.add_host(
        HostRow(name, zone, owner, auth.sha256_hex(secret), created=time.time()),
        _audit("host add", name),
    )
    return secret


async def hosts(store: Store) -> list[HostRow]:
    return await store.hosts()


async def remove_host(store: Store, name: str) -> None:
    await store.remove_host(name, _audit("host rm", name))


async def rotate_secret(store: Store, name: str) -> str:
    """Give host ``name`` a new secret (the old one stops working at once); the new one."""
    secret = auth.new_secret()
    await store.set_host_secret(name, auth.sha256_hex(secret), _audit("host rotate", name))
    return secret


async def issue_tsig_key(store: Store, name: str, algorithm: str) -> bytes:
    """Give host ``name`` a new TSIG key (the old one stops working at once); its secret.

    Only the key's salt is stored; the secret is derived under the 0600 server key
    (see :mod:`homeport.server.tsigkeys`).
    """
    row = TsigKeyRow(name, name, algorithm, tsigkeys.new_salt(), time.time())
    if await store.host(name) is None:
        raise NotFoundError(f"no host {name}")
    server = tsigkeys.server_key(store.data_dir, create=True)
    assert server is not None
    await store.set_tsig_key(row, _audit("host tsig", name, algorithm))
    return tsigkeys.derive_secret(server, row)


# -- users ----------------------------------------------------------------------------


def check_user_name(name: str) -> None:
    """UsageError unless ``name`` can be a Basic-auth user-id (see MAX_USER_NAME_LENGTH)."""
    if (
        not 0 < len(name) <= MAX_USER_NAME_LENGTH
        or not name.isprintable()
        or any(c in name for c in ": \t")
    ):
        raise UsageError("a user name has 1-64 printable characters, no space and no colon")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")


async def add_user(store: Store, name: str, password: str, *, admin: bool = False) -> str:
    """Add account ``name`` (with the dashboard's admin role if ``admin``); its new API
    token (for the token API)."""
    token = auth.new_secret()
    row = UserRow(
        name, auth.PasswordHasher().hash(password), auth.sha256_hex(token), time.time(), admin
    )
    await store.add_user(row, _audit("user add", name, "admin" if admin else ""))
    return token


@dataclass(frozen=True)
class UserSummary:
    user: UserRow
    hosts: int  # how many hosts it owns


async def users(store: Store) -> list[UserSummary]:
    owned = [h.owner for h in await store.hosts()]
    return [UserSummary(u, owned.count(u.name)) for u in await store.users()]


async def remove_user(store: Store, name: str) -> None:
    """Remove account ``name``; its hosts stay, without an owner."""
    await store.remove_user(name, _audit("user rm", name))


async def audit_log(store: Store, limit: int) -> list[AuditEntry]:
    return await store.audit_log(limit)


# -- the demo -------------------------------------------------------------------------


async def ensure_demo(store: Store) -> tuple[str, str]:
    """A demo zone and host if the store has none; the host and its secret.

    A demo keeps its secret in the data directory so the printed instructions work
    on every start.
    """
    secret_path = store.data_dir / DEMO_SECRET_FILE
    # With PostgreSQL the data directory holds only this file: create it on demand.
    secret_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not await store.zones():
        await add_zone(store, DEMO_ZONE, [f"ns1.{DEMO_ZONE}=127.0.0.1"], DEFAULT_TTL)
    if await store.host(DEMO_HOST) is None:
        secret = auth.new_secret()
        await store.add_host(
            HostRow(DEMO_HOST, DEMO_ZONE, None, auth.sha256_hex(secret), created=time.time()),
            _audit("host add", DEMO_HOST),
        )
        secret_path.touch(mode=0o600)
        secret_path.write_text(secret + "\n")
    if not secret_path.exists():
        return DEMO_HOST, "(secret unknown: rotate it with `homeport server host rotate-secret`)"
    return DEMO_HOST, secret_path.read_text().strip()
