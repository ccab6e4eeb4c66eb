"""Where the server's store lives: SQLite in the data directory, or PostgreSQL by URL.

:class:`homeport.server.store.Store` writes its SQL once, in SQLite's dialect
with ``?`` placeholders; a :class:`Database` runs it on one engine. The two
engines differ in how another process's commit is noticed:

* SQLite (the default): ``PRAGMA data_version`` for the store task, and a
  ``changed`` file that admin commands touch, so a request costs one stat().
* PostgreSQL (``--database postgresql://...``): the ``changes`` feed's newest
  ``seq`` is the token (for a request: the newest admin change's), writers
  ``NOTIFY`` inside their transaction (delivered on commit) to wake the store
  task, and a poll covers a lost notification. Several servers may share one
  database: each follows the others' updates through the same feed.

A database URL may carry a password: every message that names it uses
:func:`redact`, and driver messages pass through :func:`scrub`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from homeport.errors import ConfigError

POSTGRES_SCHEMES = ("postgresql", "postgres")
# libpq query parameters that hold a secret (libpq "Connection Strings" §34.1.2).
SECRET_PARAMS = frozenset({"password", "sslpassword"})
HIDDEN = "***"

Params = Sequence[Any]
Row = tuple[Any, ...]


class Transaction(Protocol):
    """Statements inside one transaction; SQL in SQLite's dialect with ``?`` placeholders."""

    async def execute(self, sql: str, params: Params = ()) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


class Database(Protocol):
    """One engine behind the store. Errors are StoreError / ConflictError, already scrubbed."""

    location: str  # where the data lives, safe to print

    async def setup(self, schema: str) -> None: ...

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]:
        """One write transaction: committed (durably) on success, rolled back on error.

        Announcing stores (admin commands) tell running servers about the commit.
        """
        ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def commit_token(self) -> int:
        """A value that changes when another process has committed (for the store task)."""
        ...

    async def fresh_token(self) -> int:
        """Like :meth:`commit_token`, but cheap enough to ask before every request."""
        ...

    async def on_outside_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` soon after another process commits (best effort)."""
        ...

    async def claim_server(self) -> None:
        """Start serving from this store until :meth:`close`, or raise StoreError.

        SQLite: become its one server (a second ``server run`` is refused, since it
        would serve its own view and never hear of the other's updates). PostgreSQL:
        several servers share one database and announce their commits to each other.
        Admin commands never claim.
        """
        ...

    async def close(self) -> None: ...


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme.lower() in POSTGRES_SCHEMES


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe for logs and errors)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, sep, _password = userinfo.partition(":")
            netloc = f"{user}{':' + HIDDEN if sep else ''}@{hostport}"
        query = urlencode(
            [
                (k, HIDDEN if k.lower() in SECRET_PARAMS else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="/*",
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return f"{url.partition(':')[0]}:{HIDDEN}"


def secrets_of(url: str) -> list[str]:
    """The secret strings in ``url`` (as written and decoded), for :func:`scrub`."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        found.extend(
            v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k in SECRET_PARAMS
        )
    except ValueError:
        return []
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message) with the URL's secrets and the URL itself hidden."""
    text = text.replace(url, redact(url))
    for secret in secrets_of(url):
        text = text.replace(secret, HIDDEN)
    return text


async def open_database(data_dir: Path, url: str | None, *, announce: bool) -> Database:
    """The engine for ``url`` (None or empty: SQLite in ``data_dir``)."""
    if not url:
        from homeport.server.store_sqlite import SqliteDatabase

        return await SqliteDatabase.open(data_dir, announce=announce)
    if is_postgres(url):
        from homeport.server.store_pg import PgDatabase

        return await PgDatabase.open(url, announce=announce)
    raise ConfigError(
        f"unsupported database {redact(url)!r}: use postgresql://USER@HOST/DB,"
        " or leave it unset for SQLite in the data directory"
    )
