#!/usr/bin/env python3
"""The lab's STUN server (RFC 5389 Binding, with the RFC 5780 CHANGE-REQUEST attribute).

miniupnpd's ``ext_perform_stun`` asks for answers from the other address and/or port to learn
whether the path to it filters unsolicited packets; so this listens on two addresses x two
ports and answers from the one the request asks for. Usage: stun_server.py PRIMARY ALTERNATE
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import sys

MAGIC_COOKIE = 0x2112A442  # RFC 5389 §6
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
MAPPED_ADDRESS, CHANGE_REQUEST, XOR_MAPPED_ADDRESS = 0x0001, 0x0003, 0x0020
CHANGE_IP, CHANGE_PORT = 0x04, 0x02  # RFC 5780 §7.2
PORTS = (3478, 3479)


def change_flags(data: bytes) -> int:
    length = struct.unpack("!H", data[2:4])[0]
    offset, end = 20, min(20 + length, len(data))
    while offset + 4 <= end:
        kind, size = struct.unpack("!HH", data[offset : offset + 4])
        if kind == CHANGE_REQUEST and size == 4:
            return int(struct.unpack("!I", data[offset + 4 : offset + 8])[0])
        offset += 4 + ((size + 3) & ~3)
    return 0


def answer(data: bytes, host: str, port: int) -> bytes:
    packed = ipaddress.IPv4Address(host).packed
    xaddr = bytes(a ^ b for a, b in zip(packed, struct.pack("!I", MAGIC_COOKIE), strict=True))
    attrs = struct.pack("!HHBBH", MAPPED_ADDRESS, 8, 0, 1, port) + packed
    attrs += struct.pack("!HHBBH", XOR_MAPPED_ADDRESS, 8, 0, 1, port ^ (MAGIC_COOKIE >> 16))
    attrs += xaddr
    return struct.pack("!HHI", BINDING_SUCCESS, len(attrs), MAGIC_COOKIE) + data[8:20] + attrs


def main() -> None:
    primary, alternate = sys.argv[1], sys.argv[2]
    socks: dict[tuple[str, int], socket.socket] = {}
    for ip in (primary, alternate):
        for port in PORTS:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((ip, port))
            socks[(ip, port)] = sock
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select(list(socks.values()), [], [])
        for sock in ready:
            data, (host, port) = sock.recvfrom(2048)
            if len(data) < 20 or struct.unpack("!H", data[:2])[0] != BINDING_REQUEST:
                continue
            flags = change_flags(data)
            local_ip, local_port = sock.getsockname()
            ip = (alternate if local_ip == primary else primary) if flags & CHANGE_IP else local_ip
            out_port = (
                (PORTS[1] if local_port == PORTS[0] else PORTS[0])
                if flags & CHANGE_PORT
                else local_port
            )
            socks[(ip, out_port)].sendto(answer(data, host, port), (host, port))


if __name__ == "__main__":
    main()
