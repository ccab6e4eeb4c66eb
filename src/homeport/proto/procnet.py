"""Linux ``/proc/net`` tables, text in, values out (the caller reads the file).

- ``tcp``/``tcp6``: which local addresses listen on a port. Each line holds
  ``local_address`` as hex ``ADDR:PORT`` in the kernel's byte order (IPv4: one
  little-endian 32-bit word; IPv6: four of them) and the socket state, where ``0A``
  is TCP_LISTEN (include/net/tcp_states.h).
- ``route``/``ipv6_route``: the default route (net/ipv4/fib_trie.c fib_route_seq_show,
  net/ipv6/route.c rt6_info_seq_show).
- ``if_inet6``: this host's IPv6 addresses with their flags (net/ipv6/addrconf.c
  if6_seq_show). Which of them may be published is a decision, made in
  :mod:`homeport.core.addrpolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

TCP_LISTEN = 0x0A
# include/uapi/linux/route.h: the route is usable and goes through a gateway.
RTF_UP = 0x0001
RTF_GATEWAY = 0x0002


def _address(hex_address: str) -> IPv4Address | IPv6Address:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return IPv4Address(raw[::-1])
    # Four 32-bit words, each in host (little-endian) order.
    return IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def listening(text: str, port: int) -> list[IPv4Address | IPv6Address]:
    """Local addresses with a TCP socket in LISTEN on ``port``."""
    found: list[IPv4Address | IPv6Address] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        local, state = fields[1], fields[3]
        address, _, port_hex = local.partition(":")
        if int(state, 16) != TCP_LISTEN or int(port_hex, 16) != port:
            continue
        found.append(_address(address))
    return found


def default_gateway_v4(text: str) -> IPv4Address | None:
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


def default_route_v6(text: str) -> tuple[IPv6Address, str] | None:
    """/proc/net/ipv6_route: the next hop and interface of ::/0 with the lowest metric
    (not via lo, where the kernel keeps its unreachable default)."""
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


@dataclass(frozen=True)
class InterfaceAddress:
    """One line of /proc/net/if_inet6."""

    address: IPv6Address
    ifindex: int
    prefixlen: int
    scope: int  # homeport.proto.ifaddr.SCOPE_*
    flags: int  # homeport.proto.ifaddr.IFA_F_*, the low 8 bits only (the kernel prints a u8)
    name: str


def if_inet6(text: str) -> list[InterfaceAddress]:
    """Every address in /proc/net/if_inet6, in the kernel's order; malformed lines skipped.

    A line is ``ADDR IFINDEX PREFIXLEN SCOPE FLAGS NAME``, all numbers in hex
    (``20010db8000000000000000000000001 02 40 00 80 eth0``).
    """
    found: list[InterfaceAddress] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6:
            continue
        try:
            address = IPv6Address(bytes.fromhex(fields[0]))
            ifindex, prefixlen, scope, flags = (int(f, 16) for f in fields[1:5])
        except ValueError:
            continue
        found.append(InterfaceAddress(address, ifindex, prefixlen, scope, flags, fields[5]))
    return found
