"""``homeport server secondary add|list|rm``: the secondaries fed by zone transfer.

``add`` makes the secondary's TSIG key and prints, once, the configuration
each common secondary needs (BIND, Knot, NSD, PowerDNS), catalog zone
included for the two that read catalog zones (BIND 9.18, Knot 3.2; RFC 9432).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import secrets
import time
from pathlib import Path
from typing import Any

import click
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rdatatype

from homeport.core.hostport import parse_hostport
from homeport.errors import UsageError
from homeport.server.admin import _audit, absolute
from homeport.server.commands import _data, _iso, data_option, emit, with_store
from homeport.server.config import DEFAULT_DNS
from homeport.server.store import SecondaryRow, Store
from homeport.server.xfr import ALGORITHMS, DEFAULT_CATALOG_ZONE

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
# RFC 8945 §6: a key at least as long as the HMAC's output (32 bytes for SHA-256);
# 32 random bytes serve every algorithm offered (HMAC keys longer than a block are hashed).
KEY_BYTES = 32
# RFC 1035 §4.2: DNS listens on 53 unless told otherwise.
DNS_PORT = 53


@click.group()
def secondary() -> None:
    """Secondaries (BIND, Knot, NSD, PowerDNS) that follow the zones by AXFR/IXFR."""


def _address(value: str) -> tuple[str, int]:
    try:
        host, port = parse_hostport(value, default_port=DNS_PORT)
        ipaddress.ip_address(host)
    except Exception as exc:
        raise UsageError(f"--address: not IP[:PORT]: {value[:80]!r}") from exc
    return host, port


def _hostport(host: str, port: int, sep: str) -> str:
    return f"{host}{sep}{port}"


def snippets(
    row: SecondaryRow, primary: tuple[str, int], zones: list[str], catalog: str
) -> dict[str, str]:
    """Configuration for each secondary kind, key included."""
    name, alg, secret = row.name.rstrip("."), row.algorithm, row.secret
    host, port = primary
    bind_zones = "".join(
        f'zone "{z}" {{ type secondary; file "{z}db"; primaries {{ homeport; }}; }};\n'
        for z in zones
    )
    bind = (
        f'key "{name}" {{ algorithm {alg}; secret "{secret}"; }};\n'
        f'primaries homeport {{ {host} port {port} key "{name}"; }};\n'
        f"# inside options {{ }}: new zones arrive through the catalog zone\n"
        f'#   catalog-zones {{ zone "{catalog}" default-primaries {{ {host} port {port}'
        f' key "{name}"; }}; }};\n'
        f'zone "{catalog}" {{ type secondary; file "catalog.db"; primaries {{ homeport; }}; }};\n'
        + bind_zones
    )
    knot_zones = "".join(f"  - domain: {z}\n    template: homeport\n" for z in zones)
    knot = (
        f"key:\n  - id: {name}\n    algorithm: {alg}\n    secret: {secret}\n"
        f"remote:\n  - id: homeport\n    address: {_hostport(host, port, '@')}\n"
        f"    key: {name}\n"
        f"acl:\n  - id: homeport-notify\n    address: {host}\n    key: {name}\n"
        f"    action: notify\n"
        f"template:\n  - id: homeport\n    master: homeport\n    acl: homeport-notify\n"
        f"zone:\n  - domain: {catalog}\n    template: homeport\n"
        f"    catalog-role: interpret\n    catalog-template: homeport\n" + knot_zones
    )
    nsd_zones = "".join(f"zone:\n    name: {z}\n    include-pattern: homeport\n" for z in zones)
    nsd = (
        f'key:\n    name: {name}\n    algorithm: {alg}\n    secret: "{secret}"\n'
        f"pattern:\n    name: homeport\n"
        f"    request-xfr: {_hostport(host, port, '@')} {name}\n"
        f"    allow-notify: {host} {name}\n"
        "# NSD 4.6 reads no catalog zones: add each new zone here. In server:,\n"
        "# xfrd-reload-timeout: 0 serves each transfer at once (default: once a second)\n"
        + nsd_zones
    )
    pdns = f"pdnsutil import-tsig-key {name} {alg} {secret}\n" + "".join(
        f"pdnsutil create-secondary-zone {z} {_hostport(host, port, ':')}\n"
        f"pdnsutil set-meta {z} AXFR-MASTER-TSIG {name}\n"
        for z in zones
    )
    return {"bind": bind, "knot": knot, "nsd": nsd, "powerdns": pdns}


@secondary.command("add")
@click.argument("name")
@click.option("--address", required=True, help="IP[:PORT] the secondary takes NOTIFY on.")
@click.option(
    "--key-algorithm",
    type=click.Choice(ALGORITHMS),
    default="hmac-sha256",
    show_default=True,
    help="TSIG algorithm of the secondary's key.",
)
@click.option(
    "--primary",
    default=DEFAULT_DNS,
    show_default=True,
    help="HOST:PORT the secondary transfers from (this server's DNS listener).",
)
@data_option
@json_option
def secondary_add(
    name: str, address: str, key_algorithm: str, primary: str, data: Path | None, as_json: bool
) -> None:
    """Add secondary NAME; prints its TSIG key and configuration once."""
    key = absolute(name, min_labels=1)
    host, port = _address(address)
    primary_at = _address(primary)
    secret = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    row = SecondaryRow(key, host, port, key_algorithm, secret, time.time())

    async def work(store: Store) -> list[str]:
        await store.add_secondary(row, _audit("secondary add", key, f"{host} port {port}"))
        return [z.origin for z in await store.zones()]

    zones = with_store(_data(data), work)
    config = snippets(row, primary_at, zones, DEFAULT_CATALOG_ZONE)
    value: dict[str, Any] = {
        "secondary": key,
        "address": host,
        "port": port,
        "key": {"name": key, "algorithm": key_algorithm, "secret": secret},
        "config": config,
    }
    human = "\n".join(f"# --- {kind} ---\n{text}" for kind, text in config.items())
    emit(as_json, value, f"secondary {key} added (the key is shown once: store it now)\n{human}")


@secondary.command("list")
@data_option
@json_option
def secondary_list(data: Path | None, as_json: bool) -> None:
    """List the secondaries (never their keys)."""

    async def work(store: Store) -> list[dict[str, Any]]:
        return [
            {"secondary": s.name, "address": s.address, "port": s.port, "algorithm": s.algorithm}
            for s in await store.secondaries()
        ]

    rows = with_store(_data(data), work)
    emit(
        as_json,
        rows,
        "\n".join(
            f"{r['secondary']}\t{r['address']} port {r['port']}\t{r['algorithm']}" for r in rows
        )
        or "no secondaries",
    )


@secondary.command("rm")
@click.argument("name")
@data_option
def secondary_rm(name: str, data: Path | None) -> None:
    """Remove secondary NAME: its key no longer transfers anything."""
    key = absolute(name, min_labels=1)
    with_store(_data(data), lambda s: s.remove_secondary(key, _audit("secondary rm", key)))
    click.echo(f"secondary {key} removed")


# How long `server status` waits for each secondary's SOA answer.
STATUS_TIMEOUT = 2.0


def serial_lag(primary: int, secondary: int) -> int:
    """How many serials ``secondary`` is behind ``primary`` (RFC 1982 arithmetic, mod 2**32)."""
    return (primary - secondary) % 2**32


async def _soa_serial(host: str, port: int, zone: str) -> int | None:
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    query.flags &= ~dns.flags.RD
    try:
        answer = await dns.asyncquery.udp(query, host, port=port, timeout=STATUS_TIMEOUT)
    except (OSError, dns.exception.DNSException):
        return None
    for rrset in answer.answer:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return int(rrset[0].serial)
    return None


@click.command("status")
@data_option
@json_option
def status(data: Path | None, as_json: bool) -> None:
    """Each secondary's serial of each zone and how far it lags (SOA queries to each),
    and the relay's live sessions (JSON rows with a "relay" key)."""

    async def work(store: Store) -> list[dict[str, Any]]:
        zones = await store.zones()
        rows = []
        for sec in await store.secondaries():
            serials = await asyncio.gather(
                *(_soa_serial(sec.address, sec.port, z.origin) for z in zones)
            )
            for zone, serial in zip(zones, serials, strict=True):
                rows.append(
                    {
                        "secondary": sec.name,
                        "zone": zone.origin,
                        "primary_serial": zone.soa.serial,
                        "serial": serial,
                        "lag": None if serial is None else serial_lag(zone.soa.serial, serial),
                    }
                )
        for session in await store.relay_sessions():
            rows.append(
                {
                    "relay": session.host,
                    "since": _iso(session.since),
                    "transport": session.transport,
                    "peer": session.peer,
                    "tunnels": session.tunnels,
                }
            )
        return rows

    rows = with_store(_data(data), work)
    secondaries = [
        f"{r['secondary']}\t{r['zone']}\t"
        + ("no answer" if r["serial"] is None else f"serial {r['serial']} lag {r['lag']}")
        for r in rows
        if "secondary" in r
    ]
    relayed = [
        f"relay\t{r['relay']}\tsince {r['since']} via {r['transport']} from {r['peer']}\t"
        f"{r['tunnels']}"
        for r in rows
        if "relay" in r
    ]
    emit(
        as_json,
        rows,
        "\n".join(secondaries or ["no secondaries"])
        + ("\n" + "\n".join(relayed) if relayed else ""),
    )
