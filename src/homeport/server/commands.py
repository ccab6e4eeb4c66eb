"""``homeport server``: run the provider, and administer zones, hosts and users.

Admin commands open the same store as a running server (its data directory, or
the PostgreSQL database named by ``--database``) and work while it runs; the
server picks their changes up within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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
    ServerConfig,
    default_data_dir,
)
from homeport.server.store import AuditEntry, HostRow, Store, TsigKeyRow, UserRow

T = TypeVar("T")


def _audit(action: str, subject: str, detail: str = "") -> AuditEntry:
    return AuditEntry(actor="admin", action=action, subject=subject, detail=detail, ts=time.time())


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


def _check_renders(origin: str, soa: Soa, records: list[Record]) -> None:
    """UsageError unless the server can serve the zone exactly as it will be stored."""
    try:
        Catalog().load_zone(origin, soa, records)
    except HomeportError as exc:
        raise UsageError(f"zone {origin} cannot be served: {exc}") from exc


def with_store(
    data: Path, work: Callable[[Store], Awaitable[T]], *, database: str | None = None
) -> T:
    database = database or _database()

    async def go() -> T:
        store = await Store.open(data, announce=True, database=database)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def emit(as_json: bool, value: Any, human: str) -> None:
    click.echo(json.dumps(value, indent=2) if as_json else human)


DATABASE_ENV = "HOMEPORT_DATABASE"
_DATABASE_KEY = "homeport.database"


def _remember_database(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    ctx.meta[_DATABASE_KEY] = value or None


def _database() -> str | None:
    """The --database of the command being run (None: SQLite in the data directory)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_DATABASE_KEY) if ctx is not None else None


_data_dir_option = click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: /var/lib/homeport-server as root, else XDG data dir).",
)
# Every command that opens the store takes it; `with_store` reads it from the context,
# so the commands' own signatures stay about their work.
_database_option = click.option(
    "--database",
    envvar=DATABASE_ENV,
    expose_value=False,
    callback=_remember_database,
    metavar="URL",
    help=f"postgresql://USER[:PASSWORD]@HOST[:PORT]/DB instead of SQLite in --data"
    f" (or ${DATABASE_ENV}).",
)


def data_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return _data_dir_option(_database_option(command))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _data(data: Path | None) -> Path:
    return data if data is not None else default_data_dir()


@click.group()
def server() -> None:
    """Run and administer a self-hosted dynamic-DNS provider."""


# -- run -----------------------------------------------------------------------------


@server.command()
@data_option
@click.option("--http", "http", multiple=True, help="HOST:PORT for the HTTP API (repeatable).")
@click.option("--dns", "dns", multiple=True, help="HOST:PORT for DNS, UDP and TCP (repeatable).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--limits",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Throttles and DNS rate limiting (off for benchmarks and tests).",
)
@click.option("--demo", is_flag=True, help="Create a demo zone and host if the store is empty.")
@click.option(
    "--loop",
    "event_loop",
    type=click.Choice(["auto", "uvloop", "asyncio"]),
    default=None,
    help="Event loop (default auto: uvloop when installed).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    help="info logs every request (method, path, status; never query strings).",
)
def run(
    data: Path | None,
    http: tuple[str, ...],
    dns: tuple[str, ...],
    config_file: Path | None,
    limits: str | None,
    demo: bool,
    event_loop: str | None,
    log_level: str,
) -> None:
    """Serve the update API, checkip and authoritative DNS until stopped."""
    import logging

    from homeport.server import runner

    # journald adds its own timestamps; the level and logger name are what it lacks.
    logging.basicConfig(
        level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )

    overrides: dict[str, Any] = {}
    if data is not None:
        overrides["data"] = data
    if _database() is not None:
        overrides["database"] = _database()
    if http:
        overrides["http"] = list(http)
    if dns:
        overrides["dns"] = list(dns)
    if event_loop is not None:
        overrides["event_loop"] = event_loop
    if config_file is not None:
        config = ServerConfig.from_toml(config_file, **overrides)
    else:
        config = ServerConfig.build(overrides)
    if limits is not None:
        config = config.model_copy(
            update={"limits": config.limits.model_copy(update={"enabled": limits == "on"})}
        )
    demo_info = with_store(config.data, _ensure_demo, database=config.database) if demo else None

    def announce(running: runner.RunningServer) -> None:
        click.echo(runner.ready_line(running))
        if demo_info is not None:
            click.echo(_demo_instructions(running, *demo_info))
        sys.stdout.flush()

    runner.run(config, announce)


DEMO_ZONE = "dyn.example.net."  # RFC 2606: example.net is reserved for documentation
DEMO_HOST = "myhome.dyn.example.net."
DEMO_SECRET_FILE = "demo-secret"  # noqa: S105 - a file name, not a secret


async def _ensure_demo(store: Store) -> tuple[str, str]:
    secret_path = store.data_dir / DEMO_SECRET_FILE
    # With PostgreSQL the data directory holds only this file: create it on demand.
    secret_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not await store.zones():
        await _add_zone(store, DEMO_ZONE, [f"ns1.{DEMO_ZONE}=127.0.0.1"], DEFAULT_TTL)
    if await store.host(DEMO_HOST) is None:
        secret = auth.new_secret()
        await store.add_host(
            HostRow(DEMO_HOST, DEMO_ZONE, None, auth.sha256_hex(secret), created=time.time()),
            _audit("host add", DEMO_HOST),
        )
        # A demo keeps its credentials so the printed instructions work on every start.
        secret_path.touch(mode=0o600)
        secret_path.write_text(secret + "\n")
    if not secret_path.exists():
        return DEMO_HOST, "(secret unknown: rotate it with `homeport server host rotate-secret`)"
    return DEMO_HOST, secret_path.read_text().strip()


def _demo_instructions(running: Any, host: str, secret: str) -> str:
    http = running.http_addresses[0]
    dns_host, dns_port = running.dns[0].udp_address
    name = host.rstrip(".")
    base = f"http://{http[0]}:{http[1]}"
    return f"""
homeport demo server is running (Ctrl-C to stop).
  zone {DEMO_ZONE}  host {name}  secret {secret}

Update the host (what ddclient, inadyn or a router sends):
  curl -u '{name}:{secret}' '{base}/nic/update?hostname={name}&myip=192.0.2.10'
Ask the embedded DNS server:
  dig @{dns_host} -p {dns_port} {name} A +norec
Your address as the server sees it:
  curl {base}/checkip
ddclient.conf:
  protocol=dyndns2, server={http[0]}:{http[1]}, ssl=no, login={name}, password='{secret}'
  {name}
Add your own:  homeport server zone add ZONE --ns NS   /   homeport server host add NAME
"""


# -- zones ---------------------------------------------------------------------------


@server.group()
def zone() -> None:
    """Create, import, list and remove served zones."""


def _parse_ns(origin: str, ns: list[str], ttl: int) -> tuple[list[str], list[Record]]:
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


async def _add_zone(
    store: Store, origin: str, ns: list[str], ttl: int, *, allow_private: bool = False
) -> Soa:
    ns = ns or [f"ns1.{origin}"]
    names, records = _parse_ns(origin, ns, DEFAULT_SOA_TTL)
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


# Default off: a public provider must not publish addresses that point into its users'
# (or its own) networks: DNS rebinding under the provider's domain.
_allow_private_option = click.option(
    "--allow-private",
    is_flag=True,
    help="A LAN-only zone: updates may publish private, loopback and link-local addresses"
    " (default: public unicast only).",
)


@zone.command("add")
@click.argument("name")
@click.option(
    "--ns", multiple=True, help="Name server NAME or NAME=IP (glue, in-zone); repeatable."
)
@click.option("--ttl", type=click.IntRange(0, 86400), default=DEFAULT_TTL, help="Host TTL.")
@_allow_private_option
@data_option
@json_option
def zone_add(
    name: str,
    ns: tuple[str, ...],
    ttl: int,
    allow_private: bool,
    data: Path | None,
    as_json: bool,
) -> None:
    """Create zone NAME with its SOA and NS records."""
    origin = zone_origin(name)
    soa = with_store(
        _data(data),
        lambda s: _add_zone(s, origin, list(ns), ttl, allow_private=allow_private),
    )
    emit(
        as_json,
        {
            "zone": origin,
            "serial": soa.serial,
            "ns": list(ns) or [soa.mname],
            "allow_private": allow_private,
        },
        f"zone {origin} added (serial {soa.serial}, NS {soa.mname})"
        + (", private addresses allowed" if allow_private else ""),
    )


@zone.command("set")
@click.argument("name")
@click.option(
    "--allow-private/--public-only",
    "allow_private",
    required=True,
    default=None,
    help="Whether updates may publish private, loopback and link-local addresses.",
)
@data_option
def zone_set(name: str, allow_private: bool, data: Path | None) -> None:
    """Change zone NAME's settings (running servers follow within a second)."""
    origin = zone_origin(name)
    detail = f"allow_private={allow_private}"
    with_store(
        _data(data),
        lambda s: s.set_zone_allow_private(
            origin, allow_private, _audit("zone set", origin, detail)
        ),
    )
    click.echo(
        f"zone {origin}: " + ("private addresses allowed" if allow_private else "public only")
    )


@zone.command("import")
@click.argument("zonefile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--zone", "zone_name", required=True, help="The zone's origin.")
@click.option("--ttl", type=click.IntRange(0, 86400), default=DEFAULT_TTL, help="Host TTL.")
@data_option
@json_option
def zone_import(zonefile: Path, zone_name: str, ttl: int, data: Path | None, as_json: bool) -> None:
    """Load an RFC 1035 master file (BIND, docker-ddns) as zone ZONE, replacing its records.

    Nothing is dropped: a record that would not be served exactly as written
    (see homeport.core.zone_check) stops the import with its line.
    """
    from homeport.core.zone_check import Refused, check_import
    from homeport.server.zonefile import load_zone_file

    origin = zone_origin(zone_name)
    started = time.monotonic()
    parsed = load_zone_file(zonefile, origin)
    soa, records = parsed.soa, parsed.records
    # check_import builds the zone exactly as the server will (no _check_renders needed).
    checked = check_import(origin, soa, records)
    if isinstance(checked, Refused):
        also = f" (see line {parsed.lines[checked.other]})" if checked.other is not None else ""
        where = parsed.filename if checked.index is None else parsed.where(checked.index)
        raise ConfigError(f"{where}: {checked.reason}{also}")
    count = with_store(
        _data(data),
        lambda s: s.import_zone(
            origin, soa, ttl, records, _audit("zone import", origin, str(zonefile))
        ),
    )
    elapsed = time.monotonic() - started
    served = checked.served
    merged = f" ({checked.duplicates} duplicate records merged)" if checked.duplicates else ""
    emit(
        as_json,
        {
            "zone": origin,
            "records": count,
            "served": served,
            "duplicates": checked.duplicates,
            "seconds": round(elapsed, 3),
        },
        f"zone {origin}: {count} records read, {served} served{merged}, in {elapsed:.2f} s",
    )


@zone.command("list")
@data_option
@json_option
def zone_list(data: Path | None, as_json: bool) -> None:
    """List served zones."""
    zones = with_store(_data(data), lambda s: s.zones())
    emit(
        as_json,
        [
            {
                "zone": z.origin,
                "serial": z.soa.serial,
                "ttl": z.default_ttl,
                "allow_private": z.allow_private,
            }
            for z in zones
        ],
        "\n".join(
            f"{z.origin}\tserial {z.soa.serial}" + ("\tprivate allowed" if z.allow_private else "")
            for z in zones
        )
        or "no zones",
    )


@zone.command("rm")
@click.argument("name")
@data_option
def zone_rm(name: str, data: Path | None) -> None:
    """Remove zone NAME with all its records and hosts."""
    origin = zone_origin(name)
    with_store(_data(data), lambda s: s.remove_zone(origin, _audit("zone rm", origin)))
    click.echo(f"zone {origin} removed")


# -- hosts ---------------------------------------------------------------------------


@server.group()
def host() -> None:
    """Add, list and remove updatable hosts; rotate their secrets."""


def _zone_for(zones: list[str], fqdn: str) -> str:
    best = [z for z in zones if fqdn == z or fqdn.endswith("." + z)]
    if not best:
        raise NotFoundError(f"no zone contains {fqdn}; add one with `homeport server zone add`")
    return max(best, key=len)


@host.command("add")
@click.argument("fqdn")
@click.option("--user", "owner", help="Account that may update this host with its password.")
@data_option
@json_option
def host_add(fqdn: str, owner: str | None, data: Path | None, as_json: bool) -> None:
    """Add host FQDN and print its secret (shown once)."""
    name = absolute(fqdn)
    secret = auth.new_secret()

    async def work(store: Store) -> None:
        zone = _zone_for([z.origin for z in await store.zones()], name)
        if name == zone:
            raise UsageError("a host cannot be the zone apex; use a name inside the zone")
        if owner is not None and await store.user(owner) is None:
            raise NotFoundError(f"no user {owner}")
        await store.add_host(
            HostRow(name, zone, owner, auth.sha256_hex(secret), created=time.time()),
            _audit("host add", name),
        )

    with_store(_data(data), work)
    emit(
        as_json,
        {"host": name.rstrip("."), "secret": secret},
        f"host {name.rstrip('.')} added\nsecret: {secret}\n(shown once: store it now)",
    )


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


def _state(h: HostRow) -> str:
    if h.offline:
        return "offline"
    return "never updated" if h.updated is None else "online"


@host.command("list")
@data_option
@json_option
def host_list(data: Path | None, as_json: bool) -> None:
    """List hosts with their current addresses, last update and state."""
    hosts = with_store(_data(data), lambda s: s.hosts())
    rows = [
        {
            "host": h.fqdn.rstrip("."),
            "ipv4": h.ipv4,
            "ipv6": h.ipv6,
            "updated": _iso(h.updated),
            "state": _state(h),
            "owner": h.owner,
        }
        for h in hosts
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no hosts")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("host", "ipv4", "ipv6", "updated", "state", "owner", box=None)
    for r in rows:
        table.add_row(
            *(str(r[k] or "-") for k in ("host", "ipv4", "ipv6", "updated", "state", "owner"))
        )
    Console(width=160).print(table)


@host.command("rm")
@click.argument("fqdn")
@data_option
def host_rm(fqdn: str, data: Path | None) -> None:
    """Remove host FQDN (its records stop being served)."""
    name = absolute(fqdn)
    with_store(_data(data), lambda s: s.remove_host(name, _audit("host rm", name)))
    click.echo(f"host {name.rstrip('.')} removed")


@host.command("rotate-secret")
@click.argument("fqdn")
@data_option
@json_option
def host_rotate(fqdn: str, data: Path | None, as_json: bool) -> None:
    """Give host FQDN a new secret (the old one stops working at once)."""
    name = absolute(fqdn)
    secret = auth.new_secret()
    with_store(
        _data(data),
        lambda s: s.set_host_secret(name, auth.sha256_hex(secret), _audit("host rotate", name)),
    )
    emit(
        as_json,
        {"host": name.rstrip("."), "secret": secret},
        f"host {name.rstrip('.')}: new secret: {secret}\n(shown once: store it now)",
    )


@host.command("tsig")
@click.argument("fqdn")
@click.option(
    "--algorithm",
    type=click.Choice(sorted(tsigkeys.ALGORITHMS)),
    default=tsigkeys.DEFAULT_ALGORITHM,
    show_default=True,
    help="HMAC algorithm (cert-manager defaults to hmac-md5).",
)
@data_option
@json_option
def host_tsig(fqdn: str, algorithm: str, data: Path | None, as_json: bool) -> None:
    """Give host FQDN a TSIG key for RFC 2136 updates of its ACME challenge; print it once.

    The key may add and delete TXT at _acme-challenge.FQDN and _acme-challenge.SUB.FQDN
    only. Running this again replaces the key (the old one stops working at once).
    """
    name = absolute(fqdn)
    data_dir = _data(data)
    row = TsigKeyRow(name, name, algorithm, tsigkeys.new_salt(), time.time())

    async def work(store: Store) -> bytes:
        if await store.host(name) is None:
            raise NotFoundError(f"no host {name}")
        server = tsigkeys.server_key(store.data_dir, create=True)
        assert server is not None
        await store.set_tsig_key(row, _audit("host tsig", name, algorithm))
        return server

    server = with_store(data_dir, work)
    secret = base64.b64encode(tsigkeys.derive_secret(server, row)).decode()
    emit(
        as_json,
        {
            "host": name.rstrip("."),
            "name": name,
            "algorithm": algorithm,
            # The name on the wire (RFC 8945 §6): lego and miekg/dns want it for MD5.
            "wire_algorithm": tsigkeys.ALGORITHMS[algorithm][0].to_text(),
            "secret": secret,
        },
        f"key name: {name}\nalgorithm: {algorithm}\nsecret: {secret}\n(shown once: store it now)",
    )


# -- users ---------------------------------------------------------------------------


@server.group()
def user() -> None:
    """Accounts that own hosts and update them with a password (dyndns2 login style)."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise UsageError("the password needs at least 8 characters")
    return password


def _check_user_name(name: str) -> None:
    # RFC 7617 §2: the user-id of Basic auth cannot contain a colon; whitespace and
    # control characters would not survive clients' config files or our logs.
    if not 0 < len(name) <= 64 or not name.isprintable() or any(c in name for c in ": \t"):
        raise UsageError("a user name has 1-64 printable characters, no space and no colon")


@user.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@data_option
@json_option
def user_add(name: str, password_stdin: bool, data: Path | None, as_json: bool) -> None:
    """Add account NAME; prints its API token (for the token API) once."""
    _check_user_name(name)
    password = _read_password(password_stdin)
    token = auth.new_secret()
    row = UserRow(name, auth.PasswordHasher().hash(password), auth.sha256_hex(token), time.time())
    with_store(_data(data), lambda s: s.add_user(row, _audit("user add", name)))
    emit(
        as_json,
        {"user": name, "token": token},
        f"user {name} added\ntoken: {token}\n(shown once: store it now)",
    )


@user.command("list")
@data_option
@json_option
def user_list(data: Path | None, as_json: bool) -> None:
    """List accounts and how many hosts each owns."""

    async def work(store: Store) -> list[dict[str, Any]]:
        hosts = await store.hosts()
        return [
            {
                "user": u.name,
                "hosts": sum(1 for h in hosts if h.owner == u.name),
                "created": _iso(u.created),
            }
            for u in await store.users()
        ]

    rows = with_store(_data(data), work)
    emit(as_json, rows, "\n".join(f"{r['user']}\t{r['hosts']} hosts" for r in rows) or "no users")


@user.command("rm")
@click.argument("name")
@data_option
def user_rm(name: str, data: Path | None) -> None:
    """Remove account NAME (its hosts stay, without an owner)."""
    with_store(_data(data), lambda s: s.remove_user(name, _audit("user rm", name)))
    click.echo(f"user {name} removed")


@server.command("audit")
@click.option("--limit", type=click.IntRange(1, 100000), default=50)
@data_option
@json_option
def audit_cmd(limit: int, data: Path | None, as_json: bool) -> None:
    """Show the newest audit-log entries (who changed what, from where)."""
    entries = with_store(_data(data), lambda s: s.audit_log(limit))
    rows = [
        {
            "ts": _iso(e.ts),
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "detail": e.detail,
            "source": e.source,
        }
        for e in entries
    ]
    emit(
        as_json,
        rows,
        "\n".join(
            f"{r['ts']} {r['actor']} {r['action']} {r['subject']} {r['detail']} from {r['source']}"
            for r in rows
        )
        or "no entries",
    )
