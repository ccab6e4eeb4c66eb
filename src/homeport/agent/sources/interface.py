"""An address of a local interface (ddclient's use=if), for hosts with a public address.

IPv6: a stable global address only — never a temporary (privacy, RFC 8981)
address, which changes daily and would churn the DNS name, nor a deprecated,
tentative or DAD-failed one. Flags come from ``/proc/net/if_inet6`` (the
kernel's IFA_F_* bits). With ``suffix`` (e.g. ``"::1234"``) the published
address is the stable address's prefix plus that fixed interface id: the
address of a server behind this host that keeps its interface id.
IPv4: the interface's primary address (SIOCGIFADDR).
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv6Address
from typing import Literal

import pydantic

from homeport.agent.sources import Address, Family, SourceSettings
from homeport.errors import RemoteProtocolError, TransportError

# linux/if_addr.h IFA_F_* bits that make an address unfit to publish.
IFA_F_TEMPORARY = 0x01
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_MANAGETEMPADDR = 0x100  # the stable SLAAC address temporaries derive from
_UNFIT = IFA_F_TEMPORARY | IFA_F_DADFAILED | IFA_F_DEPRECATED | IFA_F_TENTATIVE
_SCOPE_GLOBAL = 0x00
IF_INET6 = "/proc/net/if_inet6"
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
    candidates: list[tuple[int, IPv6Address, int]] = []
    for line in table.splitlines():
        fields = line.split()
        if len(fields) != 6 or fields[5] != interface:
            continue
        try:
            address = IPv6Address(int(fields[0], 16))
            prefix, scope, flags = int(fields[2], 16), int(fields[3], 16), int(fields[4], 16)
        except ValueError:
            continue
        if (
            scope != _SCOPE_GLOBAL
            or flags & _UNFIT
            or (address.is_private and not _documentation(address))
        ):
            continue
        # Prefer the SLAAC base address, then the longest-standing order the kernel lists.
        rank = 0 if flags & IFA_F_MANAGETEMPADDR else 1
        candidates.append((rank, address, prefix))
    if not candidates:
        raise RemoteProtocolError(f"{interface} has no stable global IPv6 address")
    _, address, prefix = min(candidates, key=lambda c: c[0])
    if suffix is None:
        return address
    host_bits = 128 - prefix
    mask = (1 << host_bits) - 1
    return IPv6Address((int(address) & ~mask) | (int(IPv6Address(suffix)) & mask))


def _documentation(address: IPv6Address) -> bool:
    return address in ipaddress.IPv6Network("2001:db8::/32")


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


def _read_table() -> str:
    # procfs reads never block on disk; a thread would cost more than the read.
    with open(IF_INET6, encoding="ascii") as handle:
        return handle.read()


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    if family == 4:
        return _ipv4_of(settings.interface)
    try:
        table = _read_table()
    except OSError as exc:
        raise TransportError(f"cannot read {IF_INET6}: {exc.strerror or exc}") from exc
    return pick_ipv6(table, settings.interface, settings.suffix)
