"""PCP (RFC 6887) MAP and ANNOUNCE packets. No I/O; the nonce and jitter come from the caller.

A MAP request names the internal port, protocol and a suggested external port; the server
answers with the port and address it actually assigned. The 12-byte nonce must be the same when
the mapping is renewed or deleted (§11.1, §15). The epoch (§8.5) lets the client see a server
restart: it must re-create its mappings then.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from homeport.errors import LocalProtocolError, RemoteProtocolError

VERSION = 2  # RFC 6887 §7: PCP is version 2 (NAT-PMP was 0)
PORT = 5351  # §19.1
OP_ANNOUNCE = 0
OP_MAP = 1
RESPONSE_BIT = 0x80  # §7.2: R bit
NONCE_SIZE = 12  # §11.1
HEADER_SIZE = 24
MAP_SIZE = 36
MAX_MESSAGE = 1100  # §7: a PCP message is at most 1100 bytes
PROTOCOLS = {"tcp": 6, "udp": 17}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOLS.items()}
# §8.1.1: IRT 3 s, MRT 1024 s; each wait is RT = 2*RTprev + RAND*RTprev, RAND in [-0.1, +0.1].
INITIAL_RT = 3.0
MAX_RT = 1024.0

RESULT_TEXT = {
    0: "SUCCESS",
    1: "UNSUPP_VERSION",
    2: "NOT_AUTHORIZED",
    3: "MALFORMED_REQUEST",
    4: "UNSUPP_OPCODE",
    5: "UNSUPP_OPTION",
    6: "MALFORMED_OPTION",
    7: "NETWORK_FAILURE",
    8: "NO_RESOURCES",
    9: "UNSUPP_PROTOCOL",
    10: "USER_EX_QUOTA",
    11: "CANNOT_PROVIDE_EXTERNAL",
    12: "ADDRESS_MISMATCH",
    13: "EXCESSIVE_REMOTE_PEERS",
}
SUCCESS = 0
NO_RESOURCES = 8


@dataclass(frozen=True)
class Response:
    """A PCP response. MAP fields are zero/None for ANNOUNCE."""

    opcode: int
    result: int
    lifetime: int
    epoch: int
    nonce: bytes = b""
    protocol: str = ""
    internal_port: int = 0
    external_port: int = 0
    external_address: IPv4Address | IPv6Address | None = None


def _addr16(address: str | IPv4Address | IPv6Address) -> bytes:
    """§5: IPv4 addresses travel as IPv4-mapped IPv6 addresses."""
    addr = ip_address(address) if isinstance(address, str) else address
    if isinstance(addr, IPv4Address):
        return IPv6Address("::ffff:" + str(addr)).packed
    return addr.packed


def _from16(data: bytes) -> IPv4Address | IPv6Address:
    addr = IPv6Address(data)
    return addr.ipv4_mapped or addr


def _header(opcode: int, lifetime: int, client: str | IPv4Address | IPv6Address) -> bytes:
    return struct.pack("!BBHI", VERSION, opcode, 0, lifetime) + _addr16(client)


def announce_request(client: str | IPv4Address | IPv6Address) -> bytes:
    """§14.1: ANNOUNCE with lifetime 0; the answer tells whether PCP is there and its epoch."""
    return _header(OP_ANNOUNCE, 0, client)


def map_request(
    *,
    nonce: bytes,
    client: str | IPv4Address | IPv6Address,
    protocol: str,
    internal_port: int,
    external_port: int,
    lifetime: int,
    external_address: str | IPv4Address | IPv6Address | None = None,
) -> bytes:
    """§11.1: MAP; lifetime 0 deletes (§15). The suggested external address defaults to the
    all-zeros address of the client's family ("any")."""
    if len(nonce) != NONCE_SIZE:
        raise LocalProtocolError(f"PCP nonce must be {NONCE_SIZE} bytes")
    client_addr = ip_address(client) if isinstance(client, str) else client
    if external_address is None:
        external_address = "0.0.0.0" if client_addr.version == 4 else "::"
    body = struct.pack(
        "!12sB3xHH", nonce, PROTOCOLS[protocol.lower()], internal_port, external_port
    )
    return _header(OP_MAP, lifetime, client_addr) + body + _addr16(external_address)


def decode(data: bytes) -> Response:
    if len(data) < HEADER_SIZE or len(data) > MAX_MESSAGE:
        raise RemoteProtocolError(f"PCP response of {len(data)} bytes")
    version, opcode, _, result, lifetime, epoch = struct.unpack("!BBBBII", data[:12])
    if version != VERSION or not opcode & RESPONSE_BIT:
        raise RemoteProtocolError(f"not a PCP response (version {version}, opcode {opcode})")
    op = opcode & ~RESPONSE_BIT
    if op != OP_MAP:
        return Response(op, result, lifetime, epoch)
    if len(data) < HEADER_SIZE + MAP_SIZE:
        raise RemoteProtocolError("PCP MAP response too short")
    nonce, proto, internal, external = struct.unpack("!12sB3xHH", data[24:44])
    return Response(
        opcode=op,
        result=result,
        lifetime=lifetime,
        epoch=epoch,
        nonce=nonce,
        protocol=PROTOCOL_NAMES.get(proto, str(proto)),
        internal_port=internal,
        external_port=external,
        external_address=_from16(data[44:60]),
    )


def matches(request: bytes, response: bytes) -> bool:
    """§11.3: a MAP response is ours if opcode, nonce, protocol and internal port match."""
    if len(response) < HEADER_SIZE or response[1] != request[1] | RESPONSE_BIT:
        return False
    if request[1] != OP_MAP:
        return True
    # nonce (24:36), protocol (36) and internal port (40:42); the external port may differ.
    return (
        len(response) >= HEADER_SIZE + MAP_SIZE
        and response[24:37] == request[24:37]
        and response[40:42] == request[40:42]
    )


def result_text(code: int) -> str:
    return RESULT_TEXT.get(code, f"result code {code}")


def retransmit_delays(
    jitter: Iterator[float], max_duration: float | None = None
) -> Iterator[float]:
    """§8.1.1 waits between retransmissions. ``jitter`` yields RAND values in [-0.1, 0.1].

    MRC is 0 (no count limit), so the caller bounds the total with ``max_duration`` (MRD).
    """
    total = 0.0
    rt = (1 + next(jitter)) * INITIAL_RT
    while max_duration is None or total < max_duration:
        if max_duration is not None:
            rt = min(rt, max_duration - total)
        yield rt
        total += rt
        rt = 2 * rt + next(jitter) * rt
        if rt > MAX_RT:
            rt = MAX_RT + next(jitter) * MAX_RT
