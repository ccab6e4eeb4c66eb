"""The router's own idea of its WAN address (NAT-PMP, UPnP GetExternalIPAddress).

While the daemon keeps ``[[mapping]]`` entries alive, its mapping keeper already knows the
address (and hears GENA ExternalIPAddress changes): each cycle's child is a fork of the
daemon, which passes the keeper's last value on (:func:`mapping_keeper_control.known_external_ip`).
Otherwise — ``--once``, ``homeport ip``, no mappings, or another ``gateway`` — the router is
asked once: NAT-PMP's external address request (RFC 6886 §3.2), else UPnP's
GetExternalIPAddress. PCP has no address query (RFC 6887 learns it only from a MAP).

Honest about what it is (docs/architecture.md, routers and CGNAT): behind CGNAT the router
reports the carrier's address
(consensus rejects 100.64.0.0/10 and RFC 1918 unless allow_private), and a router that
reports a public address proves nothing about reachability. Use it as one vote among
sources that see the address from the outside.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Literal

from homeport.agent import mapping_keeper_control
from homeport.agent.sources import Address, Family, SourceSettings
from homeport.errors import HomeportError, LocalProtocolError, TransportError

# NAT-PMP is one UDP round trip; UPnP needs SSDP discovery and a description fetch first.
QUERY_ORDER = ("natpmp", "upnp")


class Settings(SourceSettings):
    type: Literal["router"] = "router"
    gateway: str | None = None  # default: the default route's gateway

    def describe(self) -> str:
        return self.label or "router"


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    if family != 4:
        raise LocalProtocolError("the router source knows only the router's IPv4 address")
    known = mapping_keeper_control.known_external_ip()
    if known is not None and settings.gateway is None:
        return IPv4Address(known)
    return await ask_router(settings.gateway, time_limit)


async def ask_router(gateway: str | None, time_limit: float) -> IPv4Address:
    """One query to the router, each method in :data:`QUERY_ORDER` until one answers."""
    import asyncio

    from homeport.portmap.router import Router

    router = Router(gateway)
    problems = []
    try:
        async with asyncio.timeout(time_limit):
            for method in QUERY_ORDER:
                try:
                    address = await (await router.mapper(method)).external_ip()
                except HomeportError as exc:
                    problems.append(f"{method}: {exc}")
                    continue
                if address is not None:
                    return address
                problems.append(f"{method}: no address")
    except TimeoutError:
        problems.append(f"no answer within {time_limit:.0f} s")
    finally:
        await router.close()
    raise TransportError("the router did not tell its external address: " + "; ".join(problems))
