"""NAT-PMP (RFC 6886) packets: requests to bytes, bytes to responses. No I/O.

A client sends to UDP port 5351 of its default gateway (§3) and retransmits on the schedule of
:func:`retransmit_delays` (§3.1). Every response carries the server's epoch (seconds since its
mapping table was created); a reboot shows as an epoch smaller than expected (§3.6), and then
every mapping must be re-created.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address

from homeport.errors import RemoteProtocolError

VERSION = 0  # RFC 6886 §3.2
PORT = 5351  # RFC 6886 §3: the server's port on the gateway
OP_EXTERNAL_ADDRESS = 0
OP_MAP_UDP = 1
OP_MAP_TCP = 2
RESPONSE_BIT = 128  # §3.2: response opcode = 128 + request opcode
# §3.1: first retry after 250 ms, doubling; give up after 9 tries (~64 s in all).
INITIAL_DELAY = 0.250
MAX_TRIES = 9
# §3.3: the recommended mapping lifetime is 7200 s.
RECOMMENDED_LIFETIME = 7200

RESULT_TEXT = {
    0: "success",
    1: "unsupported version",
    2: "not authorized / refused",
    3: "network failure",
    4: "out of resources",
    5: "unsupported opcode",
}
OPCODES = {"udp": OP_MAP_UDP, "tcp": OP_MAP_TCP}


@dataclass(frozen=True)
class ExternalAddressResponse:
    result: int
    epoch: int
    address: IPv4Address | None


@dataclass(frozen=True)
class MapResponse:
    result: int
    epoch: int
    protocol: str
    internal_port: int
    external_port: int
    lifetime: int


def external_address_request() -> bytes:
    """§3.2: two bytes, version and opcode 0."""
    return struct.pack("!BB", VERSION, OP_EXTERNAL_ADDRESS)


def map_request(protocol: str, internal_port: int, external_port: int, lifetime: int) -> bytes:
    """§3.3: create/renew (lifetime > 0) or delete (lifetime 0) a mapping.

    ``external_port`` is only a suggestion; the server may grant another.
    """
    opcode = OPCODES[protocol.lower()]
    return struct.pack("!BBHHHI", VERSION, opcode, 0, internal_port, external_port, lifetime)


def delete_request(protocol: str, internal_port: int) -> bytes:
    """§3.4: lifetime 0 and suggested external port 0 delete the mapping of ``internal_port``."""
    return map_request(protocol, internal_port, 0, 0)


def result_text(code: int) -> str:
    return RESULT_TEXT.get(code, f"result code {code}")


def decode(data: bytes) -> ExternalAddressResponse | MapResponse:
    """Parse a response; raise RemoteProtocolError for anything that is not one."""
    if len(data) < 8:
        raise RemoteProtocolError(f"NAT-PMP response too short ({len(data)} bytes)")
    version, opcode, result, epoch = struct.unpack("!BBHI", data[:8])
    if version != VERSION or opcode < RESPONSE_BIT:
        raise RemoteProtocolError(f"not a NAT-PMP response (version {version}, opcode {opcode})")
    op = opcode - RESPONSE_BIT
    if op == OP_EXTERNAL_ADDRESS:
        if result != 0:
            return ExternalAddressResponse(result, epoch, None)
        if len(data) < 12:
            raise RemoteProtocolError("NAT-PMP external address response too short")
        return ExternalAddressResponse(result, epoch, IPv4Address(data[8:12]))
    if op in (OP_MAP_UDP, OP_MAP_TCP):
        protocol = "udp" if op == OP_MAP_UDP else "tcp"
        if len(data) < 16:
            # §3.5: error responses may still be 16 bytes, but tolerate short ones.
            return MapResponse(result, epoch, protocol, 0, 0, 0)
        internal, external, lifetime = struct.unpack("!HHI", data[8:16])
        return MapResponse(result, epoch, protocol, internal, external, lifetime)
    raise RemoteProtocolError(f"unknown NAT-PMP response opcode {opcode}")


def matches(request: bytes, response: bytes) -> bool:
    """Whether ``response`` answers ``request`` (same opcode; for maps, same internal port)."""
    if len(response) < 2 or len(request) < 2 or response[1] != request[1] + RESPONSE_BIT:
        return False
    if request[1] == OP_EXTERNAL_ADDRESS:
        return True
    return len(response) < 16 or response[8:10] == request[4:6]


def retransmit_delays(tries: int = MAX_TRIES) -> Iterator[float]:
    """§3.1: wait 250 ms for the first answer, then double the wait on each retry."""
    delay = INITIAL_DELAY
    for _ in range(tries):
        yield delay
        delay *= 2
