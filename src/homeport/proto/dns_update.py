"""The response to an UPDATE message (RFC 2136 §3.8), as bytes, without dnspython.

An UPDATE's response is its header (ID, opcode, RCODE; QR set) and its zone section
copied; the other sections are empty. dnspython's make_response + to_wire cost more
than the rest of an UPDATE's handling together; this is a slice and a pack.
"""

from __future__ import annotations

import struct

_QR = 0x8000
_KEEP = 0x7900  # opcode and RD, copied from the request
_MAX_NAME = 255  # RFC 1035 §2.3.4


def response(query: bytes, rcode: int) -> bytes | None:
    """The response to UPDATE ``query`` with ``rcode``; None if its zone section is not
    one plain (uncompressed) name followed by type and class (the caller falls back)."""
    if len(query) < 12 or query[4:6] != b"\x00\x01":
        return None
    pos = 12
    while pos < len(query) and query[pos] != 0:
        length = query[pos]
        if length > 63:
            return None  # a compression pointer or a reserved label type
        pos += length + 1
        if pos - 12 > _MAX_NAME:
            return None
    end = pos + 5  # the root label, type and class
    if end > len(query):
        return None
    flags = _QR | (((query[2] << 8) | query[3]) & _KEEP) | (rcode & 0xF)
    return query[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + query[12:end]
