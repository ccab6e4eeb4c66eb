"""``homeport map``: add, list and remove router port mappings (UPnP IGD, NAT-PMP, PCP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from ipaddress import IPv4Address, ip_address
from typing import Any, TypeVar

import click

from homeport.core.addrpolicy import publishable_ipv6
from homeport.errors import HomeportError, RouterError, TransportError, UsageError
from homeport.io import routes
from homeport.portmap.base import DEFAULT_DESCRIPTION, DEFAULT_LEASE, METHODS, PROTOCOLS, Mapping
from homeport.portmap.router import Router, RouterStatus
from homeport.portmap.state import StateFile

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _common(func: F) -> F:
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)
    func = click.option(
        "--gateway", metavar="IP", help="The router's address (skips the routing-table lookup)."
    )(func)
    return click.option(
        "--upnp-url", metavar="URL", help="The IGD description URL (skips SSDP discovery)."
    )(func)


def _run(
    gateway: str | None, upnp_url: str | None, body: Callable[[Router, StateFile], Awaitable[T]]
) -> T:
    async def main() -> T:
        state = StateFile()
        router = Router(gateway, nonces=state, upnp_location=upnp_url)
        try:
            return await body(router, state)
        finally:
            await router.close()
            state.save()

    return asyncio.run(main())


def _port(value: int, what: str) -> int:
    if not 1 <= value <= 65535:
        raise UsageError(f"{what} must be 1-65535, not {value}")
    return value


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


@click.group("map")
def map_() -> None:
    """Add, list and remove port mappings on the home router (UPnP IGD, NAT-PMP, PCP)."""


@map_.command("status")
@_common
@click.option(
    "--public-ip", metavar="IP", help="The address an outside service sees (for the verdict)."
)
def status(gateway: str | None, upnp_url: str | None, as_json: bool, public_ip: str | None) -> None:
    """Which methods answer, the external IP, the connection status and a CGNAT verdict."""
    observed = None
    if public_ip:
        try:
            parsed = ip_address(public_ip)
        except ValueError as exc:
            raise UsageError(f"--public-ip: {public_ip!r} is not an IP address") from exc
        observed = parsed if isinstance(parsed, IPv4Address) else None

    async def body(router: Router, state: StateFile) -> RouterStatus:
        return await router.status(observed)

    result = _run(gateway, upnp_url, body)
    data = {
        "gateway": result.gateway,
        "internal_host": result.internal_host,
        "external_ip": result.external_ip,
        "connection_status": result.connection_status,
        "methods": [asdict(m) for m in result.methods],
        "verdict": result.verdict.kind,
        "explanation": result.verdict.explanation(),
    }
    lines = [f"gateway {result.gateway} (this host {result.internal_host})"]
    for m in result.methods:
        mark = "answers" if m.answered else "no answer"
        lines.append(f"  {m.method:<7} {mark}" + (f": {m.detail}" if m.detail else ""))
    lines.append(f"external IP: {result.external_ip or 'unknown'}")
    if result.connection_status:
        lines.append(f"connection: {result.connection_status}")
    lines.append(f"verdict: {result.verdict.kind} - {result.verdict.explanation()}")
    _emit(as_json, data, "\n".join(lines))
    if not any(m.answered for m in result.methods):
        raise TransportError("no port-mapping method answered (UPnP, NAT-PMP, PCP)")


@map_.command("add")
@click.argument("external_port", type=int)
@click.option("--internal-port", type=int, help="Port on this host (default: EXTERNAL_PORT).")
@click.option("--proto", "protocol", type=click.Choice(PROTOCOLS), default="tcp", show_default=True)
@click.option("--lease", type=int, default=DEFAULT_LEASE, show_default=True, help="Seconds.")
@click.option("--method", type=click.Choice(("auto", *METHODS)), default="auto", show_default=True)
@click.option("--ipv6", is_flag=True, help="Open an IPv6 firewall pinhole instead (UPnP).")
@click.option("--description", default=DEFAULT_DESCRIPTION, show_default=True)
@_common
def add(
    external_port: int,
    internal_port: int | None,
    protocol: str,
    lease: int,
    method: str,
    ipv6: bool,
    description: str,
    gateway: str | None,
    upnp_url: str | None,
    as_json: bool,
) -> None:
    """Map EXTERNAL_PORT on the router to this host; prints the port actually granted."""
    _port(external_port, "EXTERNAL_PORT")
    internal = _port(internal_port or external_port, "--internal-port")
    if lease < 0:
        raise UsageError("--lease must be 0 or more seconds")
    if ipv6:
        _add_pinhole(gateway, upnp_url, as_json, internal, protocol, lease or DEFAULT_LEASE)
        return

    async def body(router: Router, state: StateFile) -> tuple[Mapping, IPv4Address | None]:
        mapping = await router.add(
            method=method,
            protocol=protocol,
            external_port=external_port,
            internal_port=internal,
            lease=lease,
            description=description,
        )
        state.record(mapping)
        try:
            external = await (await router.mapper(mapping.method)).external_ip()
        except HomeportError:
            external = None
        return mapping, external

    mapping, external = _run(gateway, upnp_url, body)
    where = f"{external or 'router'}:{mapping.external_port}"
    note = ""
    if mapping.external_port != external_port:
        note = f" (asked for {external_port}; the router granted {mapping.external_port})"
    lease_text = f"lease {mapping.lease} s" if mapping.lease else "no expiry"
    _emit(
        as_json,
        {**asdict(mapping), "external_ip": external, "requested_port": external_port},
        f"{mapping.protocol} {where} -> {mapping.internal_host}:{mapping.internal_port} "
        f"via {mapping.method}, {lease_text}{note}",
    )


def _ipv6_host() -> str:
    """The address a pinhole opens to: the one the agent publishes (core.addrpolicy)."""
    try:
        entries = routes.interface_addresses_v6()
    except TransportError:
        entries = []  # no /proc/net/if_inet6: IPv6 is disabled in this kernel
    found = publishable_ipv6(entries)
    if not found:
        raise UsageError(
            "this host has no stable global IPv6 address to open a pinhole to "
            "(temporary, deprecated and tentative addresses do not count)"
        )
    return str(found[0].address)


def _add_pinhole(
    gateway: str | None, upnp_url: str | None, as_json: bool, port: int, protocol: str, lease: int
) -> None:
    host = _ipv6_host()

    async def body(router: Router, state: StateFile) -> Any:
        upnp = await router.upnp_v6()
        pinhole = await upnp.add_pinhole(
            internal_host=host, internal_port=port, protocol=protocol, lease=lease
        )
        state.set_pinhole(protocol, port, pinhole.unique_id)
        return pinhole

    pinhole = _run(gateway, upnp_url, body)
    _emit(
        as_json,
        {**asdict(pinhole), "method": "upnp"},
        f"pinhole {pinhole.unique_id}: {protocol} [{host}]:{port} open from anywhere, "
        f"lease {pinhole.lease} s",
    )


@map_.command("list")
@_common
def list_(gateway: str | None, upnp_url: str | None, as_json: bool) -> None:
    """The router's mapping table (UPnP), or the mappings homeport made (NAT-PMP/PCP only)."""

    async def body(router: Router, state: StateFile) -> tuple[list[Mapping], str]:
        try:
            upnp = await router.upnp()
        except (TransportError, RouterError):
            return state.mappings(), "remembered"
        return await upnp.list(), "router"

    mappings, source = _run(gateway, upnp_url, body)
    lines = [
        f"{m.protocol:<3} {m.external_port:>5} -> {m.internal_host}:{m.internal_port}  "
        f"lease {m.lease:>6}  {m.method:<6} {m.description}"
        for m in mappings
    ]
    if source == "remembered":
        lines.insert(0, "no UPnP on this router: mappings homeport made (NAT-PMP/PCP):")
    if not mappings:
        lines.append("no mappings")
    _emit(as_json, [asdict(m) for m in mappings], "\n".join(lines))


@map_.command("rm")
@click.argument("external_port", type=int)
@click.option("--proto", "protocol", type=click.Choice(PROTOCOLS), default="tcp", show_default=True)
@click.option("--internal-port", type=int, help="For NAT-PMP/PCP (default: as remembered).")
@click.option("--method", type=click.Choice(("auto", *METHODS)), default="auto", show_default=True)
@click.option("--ipv6", is_flag=True, help="Close the IPv6 pinhole for this port.")
@_common
def rm(
    external_port: int,
    protocol: str,
    internal_port: int | None,
    method: str,
    ipv6: bool,
    gateway: str | None,
    upnp_url: str | None,
    as_json: bool,
) -> None:
    """Remove the mapping of EXTERNAL_PORT (or with --ipv6 the pinhole of that port)."""
    _port(external_port, "EXTERNAL_PORT")

    async def body(router: Router, state: StateFile) -> str:
        if ipv6:
            unique_id = state.pinhole(protocol, external_port)
            if unique_id is None:
                raise UsageError(f"no pinhole for {protocol} {external_port} was made here")
            await (await router.upnp_v6()).delete_pinhole(unique_id)
            state.set_pinhole(protocol, external_port, None)
            return "upnp"
        known = state.mapping(protocol, external_port)
        chosen = method
        if chosen == "auto":
            chosen = known.method if known else "upnp"
        inner = internal_port or (known.internal_port if known else external_port)
        mapper = await router.mapper(chosen)
        await mapper.remove(protocol=protocol, external_port=external_port, internal_port=inner)
        state.forget(protocol, external_port)
        return chosen

    used = _run(gateway, upnp_url, body)
    _emit(
        as_json,
        {"removed": True, "protocol": protocol, "external_port": external_port, "method": used},
        f"removed {protocol} {external_port}" + (" pinhole" if ipv6 else "") + f" via {used}",
    )
