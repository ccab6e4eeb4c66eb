"""DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018; pure.

A client sends an 8-byte client cookie in an EDNS COOKIE option; the server
answers with the client cookie followed by a server cookie bound to the
client's address, which the client sends back from then on. A query carrying a
valid server cookie cannot come from a spoofed address, so response-rate
limiting need not hold it back (RFC 7873 §5.2.5).

The server cookie is RFC 9018's: version 1, three reserved bytes, a 32-bit
timestamp and SipHash-2-4 over client cookie, those eight bytes and the client
address, keyed with a 16-byte secret. Neither dnspython nor the standard
library exposes SipHash (CPython's ``hashlib`` has none, and its string hash is
SipHash-1-3 and private), so :func:`siphash24` is a small implementation
checked against the SipHash paper's and RFC 9018's test vectors. It costs some
microseconds per hash in Python; :class:`CookieJar` remembers recent results so
a client that keeps its cookie costs one dict lookup per query.

This module reads and writes the bytes; the caller passes the secret, the
clock and the client address. Only queries in the common shape are handled
(one plain question, no answer or authority records, the OPT record last);
in others the option is ignored, as a server without cookies would.
"""

from __future__ import annotations

import enum
import struct

OPTION_CODE = 10  # RFC 7873 §4: EDNS option COOKIE
CLIENT_LEN = 8  # RFC 7873 §4.1
SERVER_MIN, SERVER_MAX = 8, 32  # RFC 7873 §4.2
SECRET_LEN = 16  # SipHash-2-4 takes a 128-bit key (RFC 9018 §4.4)
VERSION = 1  # RFC 9018 §4.2
# RFC 9018 §4.3: a server cookie more than an hour old or more than five
# minutes in the future is invalid; one older than half an hour is replaced.
LIFETIME = 3600
FUTURE = 300
RENEW_AFTER = 1800
BADCOOKIE = 23  # RFC 7873 §8: extended RCODE BADCOOKIE
# Remembered verdicts; past this the jar starts over (a flood of made-up cookies
# cannot grow it).
MAX_REMEMBERED = 50_000

_MASK = 0xFFFFFFFFFFFFFFFF
_QR_AND_COPIED = 0x8000 | 0x7800 | 0x0400 | 0x0100 | 0x0010  # QR, opcode, AA, RD, CD
_MIN_UDP, _EDNS_PAYLOAD = 512, 1232  # as in homeport.proto.dns_answer
TCP_LIMIT = 65535  # RFC 1035 §4.2.2: a TCP message's 2-byte length


class Status(enum.IntEnum):
    MALFORMED = 0  # RFC 7873 §5.2.2: FORMERR
    CLIENT_ONLY = 1  # §5.2.3/§5.2.4: no server cookie, or one we did not make (or too old)
    VALID = 2  # §5.2.5


def siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4 (Aumasson and Bernstein, 2012) of ``data`` under a 16-byte key."""
    k0, k1 = struct.unpack("<QQ", key)
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    tail = len(data) & 7
    last = data[len(data) - tail :] + bytes(7 - tail) + bytes([len(data) & 0xFF])
    blocks = struct.unpack(f"<{len(data) // 8 + 1}Q", data[: len(data) - tail] + last)
    mask = _MASK
    # Two SipRounds per block, four to finish; written out (no calls: this is the
    # cost of a cookie). Rotations: (x << b | x >> 64 - b) & mask.
    for i in range(len(blocks) * 2 + 4):
        if i < len(blocks) * 2:
            if not i & 1:
                m = blocks[i >> 1]
                v3 ^= m
        elif i == len(blocks) * 2:
            v2 ^= 0xFF
        v0 = (v0 + v1) & mask
        v1 = ((v1 << 13 | v1 >> 51) & mask) ^ v0
        v0 = (v0 << 32 | v0 >> 32) & mask
        v2 = (v2 + v3) & mask
        v3 = ((v3 << 16 | v3 >> 48) & mask) ^ v2
        v0 = (v0 + v3) & mask
        v3 = ((v3 << 21 | v3 >> 43) & mask) ^ v0
        v2 = (v2 + v1) & mask
        v1 = ((v1 << 17 | v1 >> 47) & mask) ^ v2
        v2 = (v2 << 32 | v2 >> 32) & mask
        if i < len(blocks) * 2 and i & 1:
            v0 ^= m
    return int(v0 ^ v1 ^ v2 ^ v3)


def server_cookie(client: bytes, address: bytes, timestamp: int, secret: bytes) -> bytes:
    """RFC 9018 §4.2: version, reserved, timestamp, SipHash-2-4 of them all and the address.

    ``address`` is the client's packed IPv4 (4 bytes) or IPv6 (16 bytes) address.
    """
    head = struct.pack(">B3xI", VERSION, timestamp & 0xFFFFFFFF)
    return head + struct.pack("<Q", siphash24(secret, client + head + address))


def verify(data: bytes, address: bytes, now: int, secret: bytes) -> tuple[Status, bytes]:
    """Judge a COOKIE option's data; give the option data to answer with (b"" if none).

    The answer echoes the client cookie with a server cookie: the one received
    while it is valid and younger than :data:`RENEW_AFTER`, else a new one.
    """
    size = len(data)
    if size != CLIENT_LEN and not CLIENT_LEN + SERVER_MIN <= size <= CLIENT_LEN + SERVER_MAX:
        return Status.MALFORMED, b""
    client = data[:CLIENT_LEN]
    if size == CLIENT_LEN + 16 and data[8] == VERSION:
        stamp = struct.unpack(">I", data[12:16])[0]
        age = (now - stamp) & 0xFFFFFFFF  # RFC 1982 serial arithmetic
        if (age <= LIFETIME or 0x100000000 - age <= FUTURE) and data[CLIENT_LEN:] == (
            server_cookie(client, address, stamp, secret)
        ):
            if age <= RENEW_AFTER or 0x100000000 - age <= FUTURE:
                return Status.VALID, data
            return Status.VALID, client + server_cookie(client, address, now, secret)
    return Status.CLIENT_ONLY, client + server_cookie(client, address, now, secret)


class CookieJar:
    """:func:`verify` with a memory: a client that keeps its cookie costs a dict lookup.

    ``secret`` is 16 random bytes from the caller (kept for the process's life:
    a restart makes every cookie invalid, and clients then simply learn a new one).
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) != SECRET_LEN:
            raise ValueError("a cookie secret is 16 bytes")
        self._secret = secret
        # address + option data -> (status, reply, good until)
        self._seen: dict[bytes, tuple[Status, bytes, int]] = {}

    def check(self, data: bytes, address: bytes, now: int) -> tuple[Status, bytes]:
        key = address + data
        seen = self._seen.get(key)
        if seen is not None and now < seen[2]:
            return seen[0], seen[1]
        status, reply = verify(data, address, now, self._secret)
        if status is not Status.MALFORMED:
            # A reply stays right for a while: an echoed cookie until it is due for
            # renewal, a new one for a minute (it is valid for an hour).
            until = now + 60
            if reply is data:
                until = struct.unpack(">I", data[12:16])[0] + RENEW_AFTER
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen = {}
            self._seen[key] = (status, reply, until)
        return status, reply


def find(query: bytes) -> bytes | None:
    """The data of the first COOKIE option in a query of the common shape, or None.

    RFC 7873 §5.2: only the first COOKIE option counts.
    """
    if query[4:11] != b"\x00\x01\x00\x00\x00\x00\x00" or query[11] != 1:
        return None
    qend = query.find(0, 12) + 1  # a plain name ends at the first zero byte
    if qend <= 12:
        return None
    opt = qend + 4
    if query[opt : opt + 3] != b"\x00\x00\x29" or len(query) < opt + 11:
        return None
    end = opt + 11 + ((query[opt + 9] << 8) | query[opt + 10])
    if end != len(query):
        return None
    pos = opt + 11
    while pos + 4 <= end:
        code = (query[pos] << 8) | query[pos + 1]
        size = (query[pos + 2] << 8) | query[pos + 3]
        if code == OPTION_CODE:
            return query[pos + 4 : pos + 4 + size] if pos + 4 + size <= end else None
        pos += 4 + size
    return None


def udp_limit(query: bytes) -> int:
    """The largest UDP response to a query :func:`find` accepted (RFC 6891 §6.2.5)."""
    opt = query.find(0, 12) + 5
    size = (query[opt + 3] << 8) | query[opt + 4]
    return _MIN_UDP if size < _MIN_UDP else _EDNS_PAYLOAD if size > _EDNS_PAYLOAD else size


def _option(reply: bytes) -> bytes:
    return struct.pack(">HH", OPTION_CODE, len(reply)) + reply


def with_cookie(resp: bytes, reply: bytes, limit: int) -> bytes:
    """``resp`` with the COOKIE option added to its OPT record (the last, and empty).

    Our responses end with an OPT record without options when the query had
    one; if the response is no such thing it is returned as it is. If the
    cookie makes it too big, the answer is cut to its question, TC=1, as
    homeport.proto.dns_answer does (RFC 2181 §9).
    """
    if resp[-11:-8] != b"\x00\x00\x29" or resp[-2:] != b"\x00\x00":
        return resp
    opt = _option(reply)
    out = resp[:-2] + struct.pack(">H", len(opt)) + opt
    if len(out) <= limit or resp[4:6] != b"\x00\x01":
        return out
    flags = ((resp[2] << 8) | resp[3]) | 0x0200
    qend = resp.find(0, 12) + 5
    head = resp[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 1)
    return head + resp[12:qend] + resp[-11:-2] + struct.pack(">H", len(opt)) + opt


def badcookie(resp: bytes, reply: bytes) -> bytes:
    """A BADCOOKIE answer (RFC 7873 §5.2.3 choice 2) carrying a fresh cookie.

    Small (question and OPT only) and so no amplifier; the client retries with
    the server cookie and is then not rate-limited.
    """
    flags = (((resp[2] << 8) | resp[3]) & _QR_AND_COPIED) | 0x8000 | (BADCOOKIE & 15)
    qd = 1 if resp[4:6] == b"\x00\x01" else 0
    question = resp[12 : resp.find(0, 12) + 5] if qd else b""
    opt_tail = resp[-8:-2] if resp[-11:-8] == b"\x00\x00\x29" else b"\x04\xd0\x00\x00\x00\x00"
    # OPT: root owner, type, our payload, extended RCODE high bits, version, flags (DO).
    ext = bytes([BADCOOKIE >> 4])
    opt = b"\x00\x00\x29" + opt_tail[:2] + ext + opt_tail[3:6]
    head = resp[:2] + struct.pack(">HHHHH", flags, qd, 0, 0, 1)
    option = _option(reply)
    return head + question + opt + struct.pack(">H", len(option)) + option


def formerr(query: bytes) -> bytes:
    """FORMERR for a malformed COOKIE option (RFC 7873 §5.2.2): the header only."""
    flags = 0x8000 | (((query[2] << 8) | query[3]) & 0x7900) | 1
    return query[:2] + struct.pack(">HHHHH", flags, 0, 0, 0, 0)
