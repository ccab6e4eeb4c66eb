"""``homeport server``: run the provider, and administer zones, hosts and users.

Admin commands open the same store as a running server (its data directory, or
the PostgreSQL database named by ``--database``) and work while it runs; the
server picks their changes up within a fraction of a second.
"""

from __future__ import annotations

import base64
import datetime
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from homeport.server import admin, tsigkeys
from homeport.server.config import DEFAULT_TTL, ServerConfig, default_data_dir
from homeport.server.store import HostRow, Store

T = TypeVar("T")


def with_store(
    data: Path, work: Callable[[Store], Awaitable[T]], *, database: str | None = None
) -> T:
    """:func:`admin.with_store` on the store this command's --data and --database name."""
    return admin.with_store(data, work, database=database or _database())


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
    demo_info = (
        with_store(config.data, admin.ensure_demo, database=config.database) if demo else None
    )

    def announce(running: runner.RunningServer) -> None:
        click.echo(runner.ready_line(running))
        if demo_info is not None:
            click.echo(_demo_instructions(running, *demo_info))
        sys.stdout.flush()

    runner.run(config, announce)


def _demo_instructions(running: Any, host: str, secret: str) -> str:
    http = running.http_addresses[0]
    dns_host, dns_port = running.dns[0].udp_address
    name = host.rstrip(".")
    base = f"http://{http[0]}:{http[1]}"
    return f"""
homeport demo server is running (Ctrl-C to stop).
  zone {admin.DEMO_ZONE}  host {name}  secret {secret}

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
    origin = admin.zone_origin(name)
    soa = with_store(
        _data(data),
        lambda s: admin.add_zone(s, origin, list(ns), ttl, allow_private=allow_private),
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
    origin = admin.zone_origin(name)
    with_store(_data(data), lambda s: admin.set_zone_allow_private(s, origin, allow_private))
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
    origin = admin.zone_origin(zone_name)
    started = time.monotonic()
    checked = admin.check_zone_file(zonefile, origin)
    count = with_store(_data(data), lambda s: admin.import_zone(s, checked, ttl, str(zonefile)))
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
    zones = with_store(_data(data), admin.zones)
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
    origin = admin.zone_origin(name)
    with_store(_data(data), lambda s: admin.remove_zone(s, origin))
    click.echo(f"zone {origin} removed")


# -- hosts ---------------------------------------------------------------------------


@server.group()
def host() -> None:
    """Add, list and remove updatable hosts; rotate their secrets."""


@host.command("add")
@click.argument("fqdn")
@click.option("--user", "owner", help="Account that may update this host with its password.")
@data_option
@json_option
def host_add(fqdn: str, owner: str | None, data: Path | None, as_json: bool) -> None:
    """Add host FQDN and print its secret (shown once)."""
    name = admin.absolute(fqdn)
    secret = with_store(_data(data), lambda s: admin.add_host(s, name, owner))
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
    hosts = with_store(_data(data), admin.hosts)
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
    name = admin.absolute(fqdn)
    with_store(_data(data), lambda s: admin.remove_host(s, name))
    click.echo(f"host {name.rstrip('.')} removed")


@host.command("rotate-secret")
@click.argument("fqdn")
@data_option
@json_option
def host_rotate(fqdn: str, data: Path | None, as_json: bool) -> None:
    """Give host FQDN a new secret (the old one stops working at once)."""
    name = admin.absolute(fqdn)
    secret = with_store(_data(data), lambda s: admin.rotate_secret(s, name))
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
    name = admin.absolute(fqdn)
    key = with_store(_data(data), lambda s: admin.issue_tsig_key(s, name, algorithm))
    secret = base64.b64encode(key).decode()
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


@host.group("ssh-key")
def host_ssh_key() -> None:
    """Public keys that may open a host's tunnels with `ssh -R` at the relay."""


# A private key pasted by mistake starts with "-----BEGIN": click would take it for an
# option and print it back in its error. It is an argument, refused by parse_public_key.
@host_ssh_key.command("add", context_settings={"ignore_unknown_options": True})
@click.argument("fqdn")
@click.argument("key")
@data_option
@json_option
def host_ssh_key_add(fqdn: str, key: str, data: Path | None, as_json: bool) -> None:
    """Let public KEY ('ssh-ed25519 AAAA... [comment]', or - to read it from standard
    input) open host FQDN's relay tunnels."""
    from homeport.server.relay import ssh_keys

    name = admin.absolute(fqdn)
    if key == "-":
        key = sys.stdin.read()
    ssh_keys.parse_public_key(key)  # a bad key is refused before the store is opened
    row = with_store(_data(data), lambda s: ssh_keys.add_key(s, name, key))
    emit(
        as_json,
        {"host": name.rstrip("."), "fingerprint": row.fingerprint, "comment": row.comment},
        f"host {name.rstrip('.')}: ssh key {row.fingerprint} added",
    )


@host_ssh_key.command("list")
@click.argument("fqdn")
@data_option
@json_option
def host_ssh_key_list(fqdn: str, data: Path | None, as_json: bool) -> None:
    """List the public keys registered for host FQDN."""
    from homeport.server.relay import ssh_keys

    name = admin.absolute(fqdn)
    rows = with_store(_data(data), lambda s: ssh_keys.keys(s, name))
    listed = [
        {"fingerprint": r.fingerprint, "key": r.key, "comment": r.comment, "added": _iso(r.created)}
        for r in rows
    ]
    human = "\n".join(f"{r.fingerprint} {r.key.split()[0]} {r.comment}".rstrip() for r in rows)
    emit(as_json, listed, human or f"host {name.rstrip('.')} has no ssh keys")


@host_ssh_key.command("rm")
@click.argument("fqdn")
@click.argument("fingerprint")
@data_option
def host_ssh_key_rm(fqdn: str, fingerprint: str, data: Path | None) -> None:
    """Remove the key FINGERPRINT ('SHA256:...', see `list`) from host FQDN."""
    from homeport.server.relay import ssh_keys

    name = admin.absolute(fqdn)
    with_store(_data(data), lambda s: ssh_keys.remove_key(s, name, fingerprint))
    click.echo(f"host {name.rstrip('.')}: ssh key {fingerprint} removed")


# -- users ---------------------------------------------------------------------------


@server.group()
def user() -> None:
    """Accounts that own hosts and update them with a password (dyndns2 login style)."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    admin.check_password(password)
    return password


@user.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@data_option
@json_option
def user_add(name: str, password_stdin: bool, data: Path | None, as_json: bool) -> None:
    """Add account NAME; prints its API token (for the token API) once."""
    admin.check_user_name(name)
    password = _read_password(password_stdin)
    token = with_store(_data(data), lambda s: admin.add_user(s, name, password))
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
    summaries = with_store(_data(data), admin.users)
    rows = [
        {"user": u.user.name, "hosts": u.hosts, "created": _iso(u.user.created)} for u in summaries
    ]
    emit(as_json, rows, "\n".join(f"{r['user']}\t{r['hosts']} hosts" for r in rows) or "no users")


@user.command("rm")
@click.argument("name")
@data_option
def user_rm(name: str, data: Path | None) -> None:
    """Remove account NAME (its hosts stay, without an owner)."""
    with_store(_data(data), lambda s: admin.remove_user(s, name))
    click.echo(f"user {name} removed")


@server.command("audit")
@click.option("--limit", type=click.IntRange(1, 100000), default=50)
@data_option
@json_option
def audit_cmd(limit: int, data: Path | None, as_json: bool) -> None:
    """Show the newest audit-log entries (who changed what, from where)."""
    entries = with_store(_data(data), lambda s: admin.audit_log(s, limit))
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


# Registered last: the group's module imports this one's helpers.
from homeport.server.relay.commands import relay  # noqa: E402
from homeport.server.secondary_commands import secondary, status  # noqa: E402

server.add_command(secondary)
server.add_command(status)
server.add_command(relay)
