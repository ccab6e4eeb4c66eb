"""DNS responses from pre-rendered wire bytes, without I/O.

An :data:`Answer` is what follows the question section of a response, plus the
header that goes with it. Compression pointers in the body are relative to
offset 12, where the question name starts, so one pre-rendered answer serves
every query for that (name, type) whatever the query's ID, RD/CD bits or the
letter case of its name (0x20 randomisation): the response is

    query ID + flags (RD copied, CD clear) + counts + the query's own question + body [+ OPT]

The hot path (:func:`respond`) checks the header with two slice compares, finds
the end of the question name and looks the lower-cased name + type up in a
dict. Anything unusual (other opcodes, several questions, EDNS options or
versions, compressed or odd names, meta types) goes to :func:`_respond_slow`,
which parses with dnspython and then answers through the same lookup.

The zone semantics (which answer a name gets) belong to the caller: it passes
the dict of pre-rendered answers and a ``resolve`` callback for misses.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

# Four header variants per answer, indexed by RD | EDNS << 1. CD is never set:
# RFC 4035 §3.1.6, an authoritative server SHOULD clear it (NSD and Knot do).
Headers = tuple[bytes, ...]
Answer = tuple[Headers, bytes]
# resolve(lower-case wire name, label offsets, qtype) -> Answer, or None = not ours (REFUSED).
Resolver = Callable[[bytes, list[int], int], "Answer | None"]
# signed(query, tcp) -> the (signed) response to a TSIG-signed query (a secondary's
# SOA check), or None to drop it; without one, signed queries get NOTAUTH.
Signed = Callable[[bytes, bool], "bytes | None"]

QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
CD = 0x0010

# RFC 1035 §4.2.1: without EDNS a UDP response is at most 512 bytes.
MIN_UDP_SIZE = 512
# DNS flag day 2020: 1232 bytes avoids IP fragmentation on every common path; we
# advertise it and never send a larger UDP response, even if the client allows it.
EDNS_PAYLOAD = 1232
# RFC 1035 §4.2.2: TCP messages carry a 2-byte length.
MAX_TCP_SIZE = 65535

# OPT RR (RFC 6891 §6.1.2): root owner, type 41, class = our payload, version 0, no options.
_OPT = b"\x00\x00\x29" + struct.pack(">H", EDNS_PAYLOAD) + b"\x00\x00\x00\x00\x00\x00"
# The same with DO set: RFC 3225 §3 says the DO bit is copied into the response.
_OPT_DO = b"\x00\x00\x29" + struct.pack(">H", EDNS_PAYLOAD) + b"\x00\x00\x80\x00\x00\x00"
# RFC 8914 §4.21: REFUSED for a name in no served zone says why, as NSD and Knot
# do: an EDE option (code 15, length 2) with INFO-CODE 20 "Not Authoritative".
_EDE_NOT_AUTH = b"\x00\x0f\x00\x02\x00\x14"
_OPT_REFUSED = _OPT[:-2] + struct.pack(">H", len(_EDE_NOT_AUTH)) + _EDE_NOT_AUTH
_OPT_DO_REFUSED = _OPT_DO[:-2] + struct.pack(">H", len(_EDE_NOT_AUTH)) + _EDE_NOT_AUTH
_FAST_COUNTS = b"\x00\x01\x00\x00\x00\x00\x00"  # QDCOUNT=1, AN=NS=0, ARCOUNT high byte 0
_CLASS_IN = b"\x00\x01"
_IN_AND_OPT = b"\x00\x01\x00\x00\x29"  # class IN, then an OPT RR's root owner and type
_ANY = dns.rdatatype.ANY
_ZONE_TRANSFERS = (dns.rdatatype.AXFR, dns.rdatatype.IXFR)
_MAX_NAME = 255  # RFC 1035 §2.3.4


@functools.lru_cache(maxsize=4096)
def make_headers(flags: int, an: int, ns: int, ar: int) -> Headers:
    """The four header variants (minus ID) for a response with these flags and counts."""
    out = []
    for idx in range(4):
        f = flags | (RD if idx & 1 else 0)
        out.append(struct.pack(">HHHHH", f, 1, an, ns, ar + (1 if idx & 2 else 0)))
    return tuple(out)


REFUSED: Answer = (make_headers(QR | dns.rcode.REFUSED, 0, 0, 0), b"")


def name_wire(name: dns.name.Name) -> bytes:
    """The uncompressed wire form of an absolute name."""
    wire = name.to_wire()
    assert wire is not None  # no file given: to_wire returns the bytes
    return wire


def label_offsets(wire: bytes) -> list[int] | None:
    """Offsets of each label of an uncompressed wire name, or None if it is not one."""
    offsets = []
    pos = 0
    end = len(wire) - 1
    while pos < end:
        length = wire[pos]
        if length == 0 or length > 63:
            return None
        offsets.append(pos)
        pos += length + 1
    if pos != end or wire[end] != 0 or len(wire) > _MAX_NAME:
        return None
    return offsets


def render(
    qname: dns.name.Name,
    qtype: int,
    flags: int,
    answer: Iterable[dns.rrset.RRset] = (),
    authority: Iterable[dns.rrset.RRset] = (),
    additional: Iterable[dns.rrset.RRset] = (),
) -> Answer:
    """Render sections with dnspython, compressed relative to a question at offset 12."""
    buf = io.BytesIO()
    buf.write(b"\x00" * 12)
    compress: dict[dns.name.Name, int] = {}
    qname.to_wire(buf, compress)
    buf.write(struct.pack(">HH", qtype, dns.rdataclass.IN))
    start = buf.tell()
    counts = [0, 0, 0]
    for i, section in enumerate((answer, authority, additional)):
        for rrset in section:
            counts[i] += rrset.to_wire(buf, compress)
    return make_headers(flags, *counts), buf.getvalue()[start:]


# Types whose RDATA holds no name dnspython would compress: their RRs can be
# written as owner pointer + fixed part + the rdata's own wire form.
_NO_NAMES = frozenset(
    dns.rdatatype.RdataType.make(t)
    for t in ("A", "AAAA", "TXT", "SPF", "CAA", "SSHFP", "TLSA", "HINFO", "DS", "DNSKEY")
)


def render_wires(
    owner: dns.name.Name, rdtype: int, ttl: int, wires: Iterable[bytes], flags: int
) -> Answer:
    """An answer of one RRset owned by the question name, from its RDATA wire forms.

    For types without names in their RDATA the records are owner pointer +
    fixed part + RDATA (what dnspython would write); others go through
    :func:`render` so their names are compressed as dnspython does.
    """
    if rdtype not in _NO_NAMES:
        return render(owner, rdtype, flags, [rrset_from_wires(owner, rdtype, ttl, wires)])
    head = b"\xc0\x0c" + struct.pack(">HHI", rdtype, dns.rdataclass.IN, ttl)
    parts = [head + struct.pack(">H", len(wire)) + wire for wire in wires]
    return make_headers(flags, len(parts), 0, 0), b"".join(parts)


def rrset_from_wires(
    owner: dns.name.Name, rdtype: int, ttl: int, wires: Iterable[bytes]
) -> dns.rrset.RRset:
    """A dnspython RRset from uncompressed RDATA wire forms."""
    kind = dns.rdatatype.RdataType.make(rdtype)
    rdatas = [dns.rdata.from_wire(dns.rdataclass.IN, kind, w, 0, len(w)) for w in wires]
    return dns.rrset.from_rdata_list(owner, ttl, rdatas)


@dataclass(frozen=True)
class NegativeTemplate:
    """A zone's SOA authority record, owner left as a pointer into the question name."""

    nxdomain: Headers
    nodata: Headers
    tail: bytes  # type, class, TTL, RDLENGTH, RDATA of the SOA

    @classmethod
    def build(cls, soa: dns.rrset.RRset) -> NegativeTemplate:
        wire = io.BytesIO()
        soa.to_wire(wire)  # uncompressed: owner first, then the fixed part
        owner_len = len(name_wire(soa.name))
        return cls(
            nxdomain=make_headers(QR | AA | dns.rcode.NXDOMAIN, 0, 1, 0),
            nodata=make_headers(QR | AA, 0, 1, 0),
            tail=wire.getvalue()[owner_len:],
        )

    def answer(self, origin_offset: int, *, nxdomain: bool) -> Answer:
        """The negative answer for a question whose zone origin starts at ``origin_offset``."""
        body = struct.pack(">H", 0xC000 | (12 + origin_offset)) + self.tail
        return (self.nxdomain if nxdomain else self.nodata), body


def respond(
    query: bytes,
    tcp: bool,
    answers: Mapping[bytes, Answer],
    resolve: Resolver,
    signed: Signed | None = None,
) -> bytes | None:
    """The response to ``query``, or None when it must be dropped."""
    # QDCOUNT=1, ANCOUNT=NSCOUNT=0, ARCOUNT < 256; QR=0 and opcode QUERY.
    if query[4:11] == _FAST_COUNTS and not query[2] & 0xF8:
        qend = query.find(0, 12) + 1  # end of the name, if it is a plain one (checked on a miss)
        if qend > 12:
            if query[qend + 2 :] == _CLASS_IN and query[11] == 0:
                # No EDNS: the question ends the message. Exact-case key first (most
                # queries are lower case), then lower-cased (0x20), then resolve().
                ans = answers.get(query[12 : qend + 2]) or _lookup(query, qend, answers, resolve)
                if ans is None:
                    return _respond_slow(query, tcp, answers, resolve, signed)
                resp = query[:2] + ans[0][query[2] & 1]
                resp += query[12:] + ans[1]
                if len(resp) > MIN_UDP_SIZE and (not tcp or len(resp) > MAX_TCP_SIZE):
                    return _truncated(resp, qend + 4, b"")
                return resp
            if (
                query[11] == 1
                and query[qend + 2 : qend + 7] == _IN_AND_OPT
                and len(query) >= qend + 15
                and query[qend + 10] == 0  # EDNS version 0; other versions get BADVERS
                and (
                    query[qend + 13 : qend + 15] == b"\x00\x00"  # no options
                    if len(query) == qend + 15
                    else _options_ok(query, qend + 13)
                )
            ):
                ans = answers.get(query[12 : qend + 2]) or _lookup(query, qend, answers, resolve)
                if ans is None:
                    return _respond_slow(query, tcp, answers, resolve, signed)
                opt = _OPT_DO if query[qend + 11] & 0x80 else _OPT
                if ans is REFUSED:
                    opt = _OPT_DO_REFUSED if opt is _OPT_DO else _OPT_REFUSED
                resp = query[:2] + ans[0][2 | (query[2] & 1)] + query[12 : qend + 4] + ans[1] + opt
                size = (query[qend + 7] << 8) | query[qend + 8]
                limit = MAX_TCP_SIZE if tcp else min(max(size, MIN_UDP_SIZE), EDNS_PAYLOAD)
                if len(resp) > limit:
                    return _truncated(resp, qend + 4, opt)
                return resp
    return _respond_slow(query, tcp, answers, resolve, signed)


def _options_ok(query: bytes, rdlength_at: int) -> bool:
    """Whether the OPT RDATA is a well-formed option list ending the message.

    Options we do not implement (COOKIE, NSID, client subnet, padding ...) are
    ignored, as RFC 6891 §6.1.2 says; malformed lists go to dnspython (FORMERR).
    """
    end = rdlength_at + 2 + ((query[rdlength_at] << 8) | query[rdlength_at + 1])
    if len(query) != end:
        return False
    pos = rdlength_at + 2
    while pos + 4 <= end:
        pos += 4 + ((query[pos + 2] << 8) | query[pos + 3])
    return pos == end


def respond_to(
    answers: Mapping[bytes, Answer],
    resolve: Resolver,
    tcp: bool,
    signed: Signed | None,
    query: bytes,
) -> bytes | None:
    """:func:`respond` with the query last, for :func:`functools.partial`."""
    return respond(query, tcp, answers, resolve, signed)


def _lookup(
    query: bytes, qend: int, answers: Mapping[bytes, Answer], resolve: Resolver
) -> Answer | None:
    """The answer for a question not found by its exact bytes; None = take the slow path."""
    name = query[12:qend].lower()
    qtype = query[qend : qend + 2]
    ans = answers.get(name + qtype)
    if ans is not None:
        return ans
    offsets = label_offsets(name)
    qt = (qtype[0] << 8) | qtype[1]
    if offsets is None or qt >= 128 or qt == 41:  # odd name, meta type or OPT
        return None
    return resolve(name, offsets, qt) or REFUSED


def _truncated(resp: bytes, question_end: int, opt: bytes) -> bytes:
    # RFC 2181 §9: set TC and send no partial RRsets; here the question only, so
    # the client retries over TCP (RFC 7766).
    flags = ((resp[2] << 8) | resp[3]) | TC
    head = resp[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 1 if opt else 0)
    return head + resp[12:question_end] + opt


def _header_only(query: bytes, rcode: int) -> bytes:
    # Copy ID, opcode and RD; counts zero: nothing after the header could be trusted.
    flags = QR | (((query[2] << 8) | query[3]) & 0x7900) | rcode
    return query[:2] + struct.pack(">HHHHH", flags, 0, 0, 0, 0)


def _respond_slow(
    query: bytes,
    tcp: bool,
    answers: Mapping[bytes, Answer],
    resolve: Resolver,
    signed: Signed | None = None,
) -> bytes | None:
    if len(query) < 12 or query[2] & 0x80:
        return None  # no header, or a response: answering responses makes loops
    try:
        msg = dns.message.from_wire(query)
    except dns.message.UnknownTSIGKey:
        if signed is not None:
            return signed(query, tcp)
        return _header_only(query, dns.rcode.NOTAUTH)  # RFC 8945 §5.2: unknown key
    except Exception:  # dnspython raises many types on garbage; all mean FORMERR
        return _header_only(query, dns.rcode.FORMERR)
    limit = MAX_TCP_SIZE
    if not tcp:
        limit = min(max(msg.payload, MIN_UDP_SIZE), EDNS_PAYLOAD) if msg.edns >= 0 else 512
    if msg.opcode() != dns.opcode.QUERY:
        return _error(msg, dns.rcode.NOTIMP, limit)
    if msg.edns > 0:
        return _error(msg, dns.rcode.BADVERS, limit)  # RFC 6891 §6.1.3
    if len(msg.question) != 1:
        return _error(msg, dns.rcode.FORMERR, limit)
    question = msg.question[0]
    qtype = question.rdtype
    if question.rdclass != dns.rdataclass.IN or qtype in _ZONE_TRANSFERS:
        # Other classes (CHAOS version.bind ...) are not served; transfers need TSIG.
        return _error(msg, dns.rcode.REFUSED, limit)
    if dns.rdatatype.is_metatype(qtype) and qtype != _ANY:
        return _error(msg, dns.rcode.NOTIMP, limit)
    wire = name_wire(question.name)  # uncompressed, letter case as the client sent it
    name = wire.lower()
    offsets = label_offsets(name)
    if offsets is None:
        return _error(msg, dns.rcode.FORMERR, limit)
    ans = answers.get(name + struct.pack(">H", qtype)) or resolve(name, offsets, qtype) or REFUSED
    opt = b""
    if msg.edns == 0:
        do = msg.ednsflags & dns.flags.DO
        if ans is REFUSED:
            opt = _OPT_DO_REFUSED if do else _OPT_REFUSED
        else:
            opt = _OPT_DO if do else _OPT
    idx = (1 if msg.flags & dns.flags.RD else 0) | (2 if opt else 0)
    qwire = wire + struct.pack(">HH", qtype, dns.rdataclass.IN)
    resp = query[:2] + ans[0][idx] + qwire + ans[1] + opt
    if len(resp) > limit:
        return _truncated(resp, 12 + len(qwire), opt)
    return resp


def _error(msg: dns.message.Message, rcode: dns.rcode.Rcode, limit: int) -> bytes:
    resp = dns.message.make_response(msg, our_payload=EDNS_PAYLOAD)
    resp.flags &= ~dns.flags.RA  # never a resolver
    if msg.edns > 0:
        resp.use_edns(0, payload=EDNS_PAYLOAD)
    resp.set_rcode(rcode)
    if len(resp.question) != 1:
        resp.question = []
    try:
        return resp.to_wire(max_size=limit)
    except dns.exception.TooBig:
        resp.question = []
        return resp.to_wire(max_size=limit)


def slip_reply(resp: bytes) -> bytes:
    """RRL's "slip" reply: the response cut to its question, TC=1 (the client retries on TCP)."""
    flags = ((resp[2] << 8) | resp[3]) | TC
    if resp[4:6] != b"\x00\x01":
        return resp[:2] + struct.pack(">HHHHH", flags, 0, 0, 0, 0)
    question_end = resp.find(0, 12) + 5  # our questions are never compressed
    return resp[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + resp[12:question_end]
