"""STUN Binding (RFC 5389), the part a client needs to learn its public address.

A Binding request is a 20-byte header (type, length, magic cookie, 96-bit
transaction id) plus optional attributes; the success response carries
XOR-MAPPED-ADDRESS (§15.2), or MAPPED-ADDRESS from RFC 3489 servers (§15.1).
MESSAGE-INTEGRITY (§15.4) and FINGERPRINT (§15.5) are verified when present, so
the RFC 5769 test vectors check this codec byte for byte. No I/O here: the
transaction id comes from the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from homeport.errors import LocalProtocolError, RemoteProtocolError

MAGIC_COOKIE = 0x2112A442  # RFC 5389 §6: fixed, tells RFC 5389 from RFC 3489 peers
HEADER_LEN = 20
TRANSACTION_ID_LEN = 12

BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111

ATTR_MAPPED_ADDRESS = 0x0001
ATTR_CHANGE_REQUEST = 0x0003  # RFC 5780 §7.2
ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_SOFTWARE = 0x8022
ATTR_FINGERPRINT = 0x8028

FINGERPRINT_XOR = 0x5354554E  # §15.5: "STUN" xored into the CRC-32
_FAMILY_V4 = 0x01
_FAMILY_V6 = 0x02


@dataclass(frozen=True)
class Message:
    """A decoded STUN message; ``attributes`` in wire order, values unpadded."""

    type: int
    transaction_id: bytes
    attributes: tuple[tuple[int, bytes], ...]

    def get(self, attr: int) -> bytes | None:
        for kind, value in self.attributes:
            if kind == attr:
                return value
        return None


@dataclass(frozen=True)
class MappedAddress:
    address: IPv4Address | IPv6Address
    port: int


def _attribute(kind: int, value: bytes) -> bytes:
    padding = b"\x00" * (-len(value) % 4)  # §15: attributes are padded to 32 bits
    return struct.pack("!HH", kind, len(value)) + value + padding


def encode(
    msg_type: int,
    transaction_id: bytes,
    attributes: tuple[tuple[int, bytes], ...] = (),
    *,
    integrity_key: bytes | None = None,
    fingerprint: bool = False,
) -> bytes:
    """A message with the given attributes, then MESSAGE-INTEGRITY and FINGERPRINT if asked."""
    if len(transaction_id) != TRANSACTION_ID_LEN:
        raise LocalProtocolError("STUN transaction id must be 12 bytes")
    body = b"".join(_attribute(kind, value) for kind, value in attributes)

    def header(length: int) -> bytes:
        return struct.pack("!HHI", msg_type, length, MAGIC_COOKIE) + transaction_id

    if integrity_key is not None:
        # §15.4: the HMAC covers the message with a length that already counts the MI attribute.
        mac = hmac.new(integrity_key, header(len(body) + 24) + body, hashlib.sha1).digest()
        body += _attribute(ATTR_MESSAGE_INTEGRITY, mac)
    if fingerprint:
        crc = zlib.crc32(header(len(body) + 8) + body) ^ FINGERPRINT_XOR
        body += _attribute(ATTR_FINGERPRINT, struct.pack("!I", crc))
    return header(len(body)) + body


def binding_request(
    transaction_id: bytes, *, software: str = "", change_ip: bool = False, change_port: bool = False
) -> bytes:
    """A Binding request; FINGERPRINT added so multiplexing servers can tell it is STUN."""
    attributes: list[tuple[int, bytes]] = []
    if software:
        attributes.append((ATTR_SOFTWARE, software.encode()))
    if change_ip or change_port:
        flags = (0x04 if change_ip else 0) | (0x02 if change_port else 0)
        attributes.append((ATTR_CHANGE_REQUEST, struct.pack("!I", flags)))
    return encode(BINDING_REQUEST, transaction_id, tuple(attributes), fingerprint=True)


def decode(data: bytes) -> Message:
    """Split a STUN message into its attributes; RemoteProtocolError if malformed."""
    if len(data) < HEADER_LEN:
        raise RemoteProtocolError("STUN message shorter than its header")
    msg_type, length, cookie = struct.unpack_from("!HHI", data)
    if msg_type & 0xC000 or cookie != MAGIC_COOKIE:
        raise RemoteProtocolError("not a STUN message (bad type bits or magic cookie)")
    if length % 4 or HEADER_LEN + length != len(data):
        raise RemoteProtocolError("STUN message length does not match the datagram")
    attributes: list[tuple[int, bytes]] = []
    offset = HEADER_LEN
    while offset < len(data):
        if offset + 4 > len(data):
            raise RemoteProtocolError("truncated STUN attribute header")
        kind, size = struct.unpack_from("!HH", data, offset)
        end = offset + 4 + size
        if end > len(data):
            raise RemoteProtocolError("truncated STUN attribute")
        attributes.append((kind, data[offset + 4 : end]))
        offset = end + (-size % 4)
    return Message(msg_type, data[8:HEADER_LEN], tuple(attributes))


def _attribute_offset(data: bytes, wanted: int) -> int | None:
    offset = HEADER_LEN
    while offset + 4 <= len(data):
        kind, size = struct.unpack_from("!HH", data, offset)
        if kind == wanted:
            return offset
        offset += 4 + size + (-size % 4)
    return None


def check_fingerprint(data: bytes) -> bool:
    """True if the message's FINGERPRINT matches (§15.5); False if absent or wrong."""
    offset = _attribute_offset(data, ATTR_FINGERPRINT)
    if offset is None or offset + 8 != len(data):
        return False
    (sent,) = struct.unpack_from("!I", data, offset + 4)
    return bool(sent == zlib.crc32(data[:offset]) ^ FINGERPRINT_XOR)


def check_integrity(data: bytes, key: bytes) -> bool:
    """True if MESSAGE-INTEGRITY matches under ``key`` (§15.4); False if absent or wrong."""
    offset = _attribute_offset(data, ATTR_MESSAGE_INTEGRITY)
    if offset is None:
        return False
    length = offset - HEADER_LEN + 24
    covered = data[:2] + struct.pack("!H", length) + data[4:offset]
    mac = hmac.new(key, covered, hashlib.sha1).digest()
    return hmac.compare_digest(mac, data[offset + 4 : offset + 24])


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """§15.4 long-term credential key: MD5(username ":" realm ":" password)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).digest()


def _read_address(value: bytes, xor_with: bytes | None) -> MappedAddress:
    if len(value) < 8:
        raise RemoteProtocolError("STUN address attribute too short")
    family, port = struct.unpack_from("!xBH", value)
    raw = value[4:]
    if xor_with is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, xor_with, strict=False))
    if family == _FAMILY_V4 and len(raw) == 4:
        return MappedAddress(IPv4Address(raw), port)
    if family == _FAMILY_V6 and len(raw) == 16:
        return MappedAddress(IPv6Address(raw), port)
    raise RemoteProtocolError(f"STUN address attribute with family {family} and {len(raw)} bytes")


def mapped_address(message: Message) -> MappedAddress:
    """XOR-MAPPED-ADDRESS (§15.2), else the RFC 3489 MAPPED-ADDRESS (§15.1)."""
    xored = message.get(ATTR_XOR_MAPPED_ADDRESS)
    if xored is not None:
        # §15.2: the address is xored with the cookie, and for IPv6 cookie + transaction id.
        return _read_address(xored, struct.pack("!I", MAGIC_COOKIE) + message.transaction_id)
    plain = message.get(ATTR_MAPPED_ADDRESS)
    if plain is not None:
        return _read_address(plain, None)
    raise RemoteProtocolError("STUN response carries no mapped address")


def parse_binding_response(data: bytes, transaction_id: bytes) -> MappedAddress:
    """The reflexive address from the answer to our request ``transaction_id``."""
    message = decode(data)
    if message.transaction_id != transaction_id:
        raise RemoteProtocolError("STUN response for another transaction")
    if _attribute_offset(data, ATTR_FINGERPRINT) is not None and not check_fingerprint(data):
        raise RemoteProtocolError("STUN response FINGERPRINT does not match")
    if message.type == BINDING_ERROR:
        code = message.get(ATTR_ERROR_CODE) or b"\x00\x00\x00\x00"
        number = (code[2] & 0x07) * 100 + code[3] if len(code) >= 4 else 0
        reason = code[4:].decode("utf-8", "replace")[:80]
        raise RemoteProtocolError(f"STUN error response {number} {reason}".rstrip())
    if message.type != BINDING_SUCCESS:
        raise RemoteProtocolError(f"unexpected STUN message type 0x{message.type:04x}")
    return mapped_address(message)
