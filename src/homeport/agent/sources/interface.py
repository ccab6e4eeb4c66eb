"""An address of a local interface (ddclient's use=if), for hosts with a public address.

IPv6: the address :func:`homeport.core.addrpolicy.publishable_ipv6` picks on this
interface (stable and global: never a temporary, deprecated, tentative or DAD-failed
one), the same policy the doctor and ``homeport map`` use. With ``suffix`` (e.g.
``"::1234"``) the published address is the stable address's prefix plus that fixed
interface id: the address of a server behind this host that keeps its interface id.
IPv4: the interface's primary address (SIOCGIFADDR).
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv6Address
from typing import Literal

import pydantic

from homeport.agent.sources import Address, Family, SourceSettings
from homeport.core.addrpolicy import publishable_ipv6
from homeport.errors import RemoteProtocolError, TransportError
from homeport.io import routes
from homeport.proto import procnet

SIOCGIFADDR = 0x8915  # linux/sockios.h


class Settings(SourceSettings):
    type: Literal["interface"] = "interface"
    interface: str = pydantic.Field(min_length=1, max_length=15)  # IFNAMSIZ - 1
    suffix: str | None = None

    @pydantic.field_validator("suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        if value is not None:
            IPv6Address(value)
        return value

    def describe(self) -> str:
        return self.label or f"if:{self.interface}"


def pick_ipv6(table: str, interface: str, suffix: str | None = None) -> IPv6Address:
    """The stable global IPv6 address of ``interface`` from /proc/net/if_inet6 text."""
    return _with_suffix(_pick(procnet.if_inet6(table), interface), suffix)


def _pick(entries: list[procnet.InterfaceAddress], interface: str) -> procnet.InterfaceAddress:
    candidates = publishable_ipv6(entries, interface)
    if not candidates:
        raise RemoteProtocolError(f"{interface} has no stable global IPv6 address")
    return candidates[0]


def _with_suffix(entry: procnet.InterfaceAddress, suffix: str | None) -> IPv6Address:
    if suffix is None:
        return entry.address
    mask = (1 << (128 - entry.prefixlen)) - 1
    return IPv6Address((int(entry.address) & ~mask) | (int(IPv6Address(suffix)) & mask))


def _ipv4_of(interface: str) -> Address:
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(), SIOCGIFADDR, struct.pack("256s", interface.encode())
            )
        except OSError as exc:
            raise TransportError(f"{interface}: no IPv4 address ({exc.strerror or exc})") from exc
    return ipaddress.IPv4Address(packed[20:24])


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    if family == 4:
        return _ipv4_of(settings.interface)
    entry = _pick(routes.interface_addresses_v6(), settings.interface)
    return _with_suffix(entry, settings.suffix)
