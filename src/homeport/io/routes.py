"""The default gateway, this host's IPv6 addresses and our LAN source address, from the kernel.

Only the reading lives here; :mod:`homeport.proto.procnet` parses the /proc tables and
:mod:`homeport.core.addrpolicy` decides which IPv6 address may be published.
Reading /proc sends nothing; neither does connecting a UDP socket (it only makes the kernel
choose a route and a source address, which getsockname() then reports).
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from homeport.errors import TransportError
from homeport.proto import procnet

IF_INET6 = "/proc/net/if_inet6"


def _read(path: str) -> str:
    # A missing table is an empty one: no IPv4 routes, or IPv6 disabled (no if_inet6).
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def default_gateway_v4(path: str = "/proc/net/route") -> IPv4Address | None:
    return procnet.default_gateway_v4(_read(path))


def default_route_v6(path: str = "/proc/net/ipv6_route") -> tuple[IPv6Address, str] | None:
    return procnet.default_route_v6(_read(path))


def interface_addresses_v6(path: str = IF_INET6) -> list[procnet.InterfaceAddress]:
    """Every IPv6 address of this host; raises TransportError when the table cannot be read."""
    try:
        # procfs reads never block on disk; a thread would cost more than the read.
        with open(path, encoding="ascii") as handle:
            return procnet.if_inet6(handle.read())
    except OSError as exc:
        raise TransportError(f"cannot read {path}: {exc.strerror or exc}") from exc


def source_address(destination: str) -> str:
    """The local address the kernel would use to reach ``destination`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in destination else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((destination, 9))  # port is irrelevant: UDP connect sends nothing
            return str(sock.getsockname()[0])
    except OSError as exc:
        raise TransportError(f"no route to {destination}: {exc}") from exc
