"""Linux ``/proc/net/tcp`` and ``/proc/net/tcp6``: which local addresses listen on a port.

Each line holds ``local_address`` as hex ``ADDR:PORT`` in the kernel's byte
order (IPv4: one little-endian 32-bit word; IPv6: four of them) and the socket
state, where ``0A`` is TCP_LISTEN (include/net/tcp_states.h).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

TCP_LISTEN = 0x0A


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
