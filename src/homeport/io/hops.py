"""The first few routers on the way to an address, traceroute-style, without raw sockets.

A UDP datagram sent with a small TTL dies at hop TTL; that router answers ICMP
time-exceeded, which Linux hands back on the socket's error queue when
``IP_RECVERR`` is set (ip(7)), with the router's address as the "offender".
Packets go only to ``destination`` (the homeport server the user configured):
the routers on the way answer, nobody else is contacted.
"""

from __future__ import annotations

import asyncio
import select
import socket
import struct
from ipaddress import IPv4Address

# linux/in.h and linux/errqueue.h: not exported by Python's socket module.
IP_RECVERR = 11
SO_EE_ORIGIN_ICMP = 2
ICMP_TIME_EXCEEDED = 11
# The traceroute convention: ports unlikely to have a listener.
BASE_PORT = 33434
# sock_extended_err: errno u32, origin u8, type u8, code u8, pad u8, info u32, data u32
_EXTENDED_ERR = struct.Struct("=IBBBBII")


def _hop(destination: str, ttl: int, wait: float) -> IPv4Address | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.connect((destination, BASE_PORT + ttl))
        try:
            sock.send(b"homeport-hop")
        except OSError:
            return None
        poller = select.poll()
        poller.register(sock, select.POLLERR)
        if not poller.poll(int(wait * 1000)):
            return None
        try:
            _, ancillary, _, _ = sock.recvmsg(512, 512, socket.MSG_ERRQUEUE)
        except OSError:
            return None
        for level, kind, data in ancillary:
            if level != socket.IPPROTO_IP or kind != IP_RECVERR or len(data) < 16 + 8:
                continue
            _, origin, icmp_type, _, _, _, _ = _EXTENDED_ERR.unpack_from(data)
            if origin != SO_EE_ORIGIN_ICMP or icmp_type != ICMP_TIME_EXCEEDED:
                continue
            # SO_EE_OFFENDER: a sockaddr_in right after the 16-byte header.
            return IPv4Address(data[16 + 4 : 16 + 8])
    return None


async def first_hops(
    destination: str, count: int = 3, wait: float = 1.0
) -> list[IPv4Address | None]:
    """The addresses of hops 1..count towards ``destination`` (None: no answer)."""
    loop = asyncio.get_running_loop()
    return [
        await loop.run_in_executor(None, _hop, destination, ttl, wait)
        for ttl in range(1, count + 1)
    ]
