"""TSIG (RFC 8945) on the server side: check a signed request, sign or refuse the response.

dnspython computes and compares every MAC (:func:`dns.tsig.validate`,
:func:`dns.tsig.sign`); this module adds what a server needs around it, with the
clock passed in: the checks in RFC 8945 §5.2's order, the error responses of
§5.3.2 (BADKEY, BADSIG: unsigned, empty MAC) and §5.2.3 (BADTIME: signed, the
server's time in Other Data), and the truncation rules of §5.2.2.1.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig
import dns.wire

# RFC 8945 §10: 300 s is the recommended fudge.
FUDGE = 300
# MAC lengths (the hash's output, octets) of the algorithms we accept (RFC 8945 §6);
# anything else is BADKEY, as an unknown key is (§5.2.1: name and algorithm identify it).
MAC_SIZES = {
    dns.tsig.HMAC_MD5: 16,
    dns.tsig.HMAC_SHA1: 20,
    dns.tsig.HMAC_SHA224: 28,
    dns.tsig.HMAC_SHA256: 32,
    dns.tsig.HMAC_SHA384: 48,
    dns.tsig.HMAC_SHA512: 64,
}
# RFC 8945 §5.2.2.1: a MAC shorter than this many octets (or than half the hash) is FORMERR.
MIN_TRUNCATED_MAC = 10


class Verdict(enum.Enum):
    OK = "ok"
    FORMERR = "formerr"
    BADKEY = "badkey"
    BADSIG = "badsig"
    BADTIME = "badtime"
    BADTRUNC = "badtrunc"


@dataclass(frozen=True)
class Signed:
    """A request's TSIG, where it starts in the wire, and the verdict on it."""

    key_name: dns.name.Name
    rdata: dns.rdtypes.ANY.TSIG.TSIG
    start: int
    verdict: Verdict
    key: dns.tsig.Key | None  # the key that matched (None: BADKEY)


def parse(wire: bytes) -> dns.message.Message:
    """The message with its TSIG (if any) read but not checked; errors are dnspython's."""
    return dns.message.from_wire(wire, keyring=False)


def _last_record_start(wire: bytes) -> int:
    """Where the message's last resource record begins (the TSIG must be last, §5.1)."""
    counts = struct.unpack(">HHHH", wire[4:12])
    parser = dns.wire.Parser(wire, 12)
    for _ in range(counts[0]):
        parser.get_name(decompress=True)
        parser.get_struct("!HH")
    start = -1
    for _ in range(sum(counts[1:])):
        start = parser.current
        parser.get_name(decompress=True)
        rdlen = parser.get_struct("!HHIH")[3]
        parser.seek(parser.current + rdlen)
    return start


def check(
    wire: bytes,
    msg: dns.message.Message,
    lookup: Callable[[dns.name.Name], dns.tsig.Key | None],
    now: int,
) -> Signed | None:
    """The verdict on ``msg``'s TSIG (None: the message is not signed)."""
    if msg.tsig is None:
        return None
    rdata = msg.tsig[0]
    assert isinstance(rdata, dns.rdtypes.ANY.TSIG.TSIG)
    key_name = msg.tsig.name
    try:
        start = _last_record_start(wire)
    except (dns.exception.DNSException, ValueError, struct.error):
        return Signed(key_name, rdata, -1, Verdict.FORMERR, None)
    key = lookup(key_name)
    if key is None or key.algorithm != rdata.algorithm or rdata.algorithm not in MAC_SIZES:
        return Signed(key_name, rdata, start, Verdict.BADKEY, None)
    full = MAC_SIZES[rdata.algorithm]
    size = len(rdata.mac)
    if size > full or size < max(MIN_TRUNCATED_MAC, full // 2):
        return Signed(key_name, rdata, start, Verdict.FORMERR, key)
    if size < full:
        # Local policy (§5.2.2.1): full-length MACs only, as every client we serve sends.
        return Signed(key_name, rdata, start, Verdict.BADTRUNC, key)
    try:
        dns.tsig.validate(wire, key, key_name, rdata, now, b"", start)  # type: ignore[no-untyped-call]
    except dns.tsig.BadTime:
        return Signed(key_name, rdata, start, Verdict.BADTIME, key)  # the MAC was good
    except (dns.tsig.BadSignature, dns.tsig.BadKey, dns.tsig.BadAlgorithm):
        return Signed(key_name, rdata, start, Verdict.BADSIG, key)
    except (dns.exception.DNSException, ValueError):
        return Signed(key_name, rdata, start, Verdict.FORMERR, key)
    return Signed(key_name, rdata, start, Verdict.OK, key)


def header_only(wire: bytes, rcode: int) -> bytes:
    """A response of ``rcode`` with the header only (b"" for less than a header).

    ID, opcode and RD copied; no sections: nothing after the header could be trusted.
    """
    if len(wire) < 12:
        return b""
    flags = 0x8000 | (((wire[2] << 8) | wire[3]) & 0x7900) | rcode
    return wire[:2] + struct.pack(">HHHHH", flags, 0, 0, 0, 0)


def refusal(wire: bytes, msg: dns.message.Message, signed: Signed, now: int) -> bytes:
    """The answer to a request whose TSIG did not verify (``signed.verdict`` not OK).

    FORMERR: the header alone. Otherwise NOTAUTH with the TSIG error (RFC 8945 §5.2),
    as :func:`error_response` writes it.
    """
    if signed.verdict is Verdict.FORMERR:
        return header_only(wire, dns.rcode.FORMERR)
    resp = dns.message.make_response(msg)  # unsigned: msg was parsed without a keyring
    resp.flags &= ~dns.flags.RA
    resp.set_rcode(dns.rcode.NOTAUTH)
    return error_response(resp.to_wire(), signed, now)


def unsigned(wire: bytes, signed: Signed) -> bytes:
    """The request without its TSIG record (what the answer code sees)."""
    arcount = struct.unpack(">H", wire[10:12])[0] - 1
    return wire[:10] + struct.pack(">H", arcount) + wire[12 : signed.start]


def _append(wire: bytes, owner: dns.name.Name, rdata: dns.rdtypes.ANY.TSIG.TSIG) -> bytes:
    body = rdata.to_wire()
    assert body is not None
    owner_wire = owner.to_wire()
    assert owner_wire is not None
    record = owner_wire + struct.pack(">HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(body))
    arcount = struct.unpack(">H", wire[10:12])[0] + 1
    return wire[:10] + struct.pack(">H", arcount) + wire[12:] + record + body


def _template(
    signed: Signed, time_signed: int, error: int, other: bytes
) -> dns.rdtypes.ANY.TSIG.TSIG:
    return dns.rdtypes.ANY.TSIG.TSIG(  # type: ignore[no-untyped-call]
        dns.rdataclass.ANY,
        dns.rdatatype.TSIG,
        signed.rdata.algorithm,
        time_signed,
        FUDGE,
        b"",
        signed.rdata.original_id,
        error,
        other,
    )


def sign(response: bytes, signed: Signed, now: int) -> bytes:
    """``response`` (unsigned wire) signed with the request's key, covering its MAC (§5.3)."""
    assert signed.key is not None
    template = _template(signed, now, 0, b"")
    rdata, _ = dns.tsig.sign(  # type: ignore[no-untyped-call]
        response, signed.key, template, now, signed.rdata.mac
    )
    return _append(response, signed.key_name, rdata)


def error_response(response: bytes, signed: Signed, now: int) -> bytes:
    """A refused request's response (RCODE NOTAUTH already set) with the TSIG error.

    BADKEY, BADSIG, BADTRUNC: unsigned, MAC empty (§5.3.2: the client's key cannot be
    trusted). BADTIME: signed, since the MAC was good; Time Signed is the request's and
    Other Data the server's time (§5.2.3), so the client can see the skew.
    """
    error = {
        Verdict.BADKEY: dns.rcode.BADKEY,
        Verdict.BADSIG: dns.rcode.BADSIG,
        Verdict.BADTIME: dns.rcode.BADTIME,
        Verdict.BADTRUNC: dns.rcode.BADTRUNC,
    }[signed.verdict]
    if signed.verdict is Verdict.BADTIME and signed.key is not None:
        other = struct.pack(">Q", now)[2:]  # 48-bit seconds
        template = _template(signed, signed.rdata.time_signed, error, other)
        rdata, _ = dns.tsig.sign(  # type: ignore[no-untyped-call]
            response, signed.key, template, signed.rdata.time_signed, signed.rdata.mac
        )
        return _append(response, signed.key_name, rdata)
    return _append(response, signed.key_name, _template(signed, now, error, b""))
