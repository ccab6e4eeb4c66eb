"""The default gateway and our LAN source address, from the kernel's routing table.

Reading /proc sends nothing; neither does connecting a UDP socket (it only makes the kernel
choose a route and a source address, which getsockname() then reports).
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from homeport.errors import TransportError

RTF_UP = 0x0001
RTF_GATEWAY = 0x0002
IFA_F_TEMPORARY = 0x01
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
SCOPE_GLOBAL = 0x00


def parse_route_v4(text: str) -> IPv4Address | None:
    """/proc/net/route: the gateway of the default route with the lowest metric."""
    best: tuple[int, IPv4Address] | None = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest, gateway, flags, metric, mask = fields[1], fields[2], fields[3], fields[6], fields[7]
        if dest != "00000000" or mask != "00000000":
            continue
        if int(flags, 16) & (RTF_UP | RTF_GATEWAY) != RTF_UP | RTF_GATEWAY:
            continue
        # The kernel prints the address as a host-order (little-endian) 32-bit hex number.
        addr = IPv4Address(bytes.fromhex(gateway)[::-1])
        if best is None or int(metric) < best[0]:
            best = (int(metric), addr)
    return best[1] if best else None


def parse_route_v6(text: str) -> IPv6Address | None:
    """/proc/net/ipv6_route: the next hop of ::/0 with the lowest metric (not via lo)."""
    found = parse_default_v6(text)
    return found[0] if found else None


def parse_default_v6(text: str) -> tuple[IPv6Address, str] | None:
    """The IPv6 default route's next hop and interface."""
    best: tuple[int, IPv6Address, str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[9] == "lo":
            continue
        if int(fields[0], 16) != 0 or int(fields[1], 16) != 0:
            continue
        if int(fields[8], 16) & (RTF_UP | RTF_GATEWAY) != RTF_UP | RTF_GATEWAY:
            continue
        hop, metric = IPv6Address(bytes.fromhex(fields[4])), int(fields[5], 16)
        if best is None or metric < best[0]:
            best = (metric, hop, fields[9])
    return (best[1], best[2]) if best else None


def parse_if_inet6(text: str) -> list[IPv6Address]:
    """/proc/net/if_inet6: usable global addresses, stable ones before temporary ones."""
    stable: list[IPv6Address] = []
    temporary: list[IPv6Address] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[5] == "lo" or int(fields[3], 16) != SCOPE_GLOBAL:
            continue
        flags = int(fields[4], 16)
        if flags & (IFA_F_DEPRECATED | IFA_F_TENTATIVE):
            continue
        addr = IPv6Address(bytes.fromhex(fields[0]))
        (temporary if flags & IFA_F_TEMPORARY else stable).append(addr)
    return stable + temporary


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def default_gateway_v4(path: str = "/proc/net/route") -> IPv4Address | None:
    return parse_route_v4(_read(path))


def default_gateway_v6(path: str = "/proc/net/ipv6_route") -> IPv6Address | None:
    return parse_route_v6(_read(path))


def default_route_v6(path: str = "/proc/net/ipv6_route") -> tuple[IPv6Address, str] | None:
    return parse_default_v6(_read(path))


def global_ipv6_addresses(path: str = "/proc/net/if_inet6") -> list[IPv6Address]:
    return parse_if_inet6(_read(path))


def source_address(destination: str) -> str:
    """The local address the kernel would use to reach ``destination`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in destination else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((destination, 9))  # port is irrelevant: UDP connect sends nothing
            return str(sock.getsockname()[0])
    except OSError as exc:
        raise TransportError(f"no route to {destination}: {exc}") from exc
