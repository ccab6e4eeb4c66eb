"""Wire vectors for the pre-rendered answer path; dnspython is the oracle."""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from homeport.proto import dns_answer as da

WWW = dns.name.from_text("www.example.net.")
A = dns.rrset.from_text("www.example.net.", 60, "IN", "A", "192.0.2.1")
SOA = dns.rrset.from_text(
    "example.net.", 30, "IN", "SOA", "ns1.example.net. hostmaster.example.net. 7 3600 600 86400 30"
)
ANSWERS = {da.name_wire(WWW) + b"\x00\x01": da.render(WWW, dns.rdatatype.A, da.QR | da.AA, [A])}
NEG = da.NegativeTemplate.build(SOA)
ORIGIN_WIRE = b"\x07example\x03net\x00"


def resolve(name: bytes, offsets: list[int], qtype: int) -> da.Answer | None:
    """Stand-in for the catalog: example.net. exists with nothing but www."""
    for off in offsets:
        if name[off:] == ORIGIN_WIRE:
            return NEG.answer(off, nxdomain=True)
    return None


def ask(query: dns.message.Message | bytes, tcp: bool = False) -> bytes | None:
    wire = query if isinstance(query, bytes) else query.to_wire()
    return da.respond(wire, tcp, ANSWERS, resolve)


def oracle(query: dns.message.Message, *answer: dns.rrset.RRset, rcode: int = 0) -> bytes:
    resp = dns.message.make_response(query, our_payload=1232)
    resp.flags |= dns.flags.AA
    resp.set_rcode(dns.rcode.Rcode(rcode))
    for rrset in answer:
        resp.answer.append(rrset)
    return resp.to_wire()


def test_hex_vector() -> None:
    query = bytes.fromhex(
        "beef 0100 0001 0000 0000 0000 03777777076578616d706c65036e657400 0001 0001"
    )
    expected = bytes.fromhex(
        "beef 8500 0001 0001 0000 0000"  # ID, QR AA RD, counts
        "03777777076578616d706c65036e657400 0001 0001"  # the question, as sent
        "c00c 0001 0001 0000003c 0004 c0000201"  # pointer to offset 12, A, IN, TTL 60, 192.0.2.1
    )
    assert ask(query) == expected


@pytest.mark.parametrize("edns", [False, True])
@pytest.mark.parametrize("rd", [False, True])
def test_positive_answer_matches_dnspython(edns: bool, rd: bool) -> None:
    query = dns.message.make_query("www.example.net.", "A", use_edns=0 if edns else None)
    query.flags = dns.flags.RD if rd else 0
    assert ask(query) == oracle(query, A)


def test_letter_case_of_the_question_is_kept() -> None:
    query = dns.message.make_query("WwW.ExAmple.NET.", "A")
    resp = ask(query)
    assert resp is not None
    assert b"\x03WwW\x07ExAmple\x03NET\x00" in resp
    parsed = dns.message.from_wire(resp)
    assert parsed.answer[0].name.to_text() == "WwW.ExAmple.NET."
    assert parsed.answer[0][0].address == "192.0.2.1"


@pytest.mark.parametrize("edns", [-1, 0])
def test_cd_bit_is_cleared_and_rd_copied(edns: int) -> None:
    # RFC 4035 §3.1.6: an authoritative server SHOULD clear CD (NSD and Knot do; the
    # differential suite compares them); RFC 1035 §4.1.1: RD is copied
    for name in ("www.example.net.", "WWW.example.net.", "nope.example.net."):  # every path
        query = dns.message.make_query(name, "A", use_edns=edns)
        query.flags = dns.flags.CD | dns.flags.RD
        resp = dns.message.from_wire(ask(query) or b"")
        assert resp.flags & (dns.flags.CD | dns.flags.RD) == dns.flags.RD, name


def test_negative_answer_points_at_the_origin_in_the_question() -> None:
    query = dns.message.make_query("nope.example.net.", "A")
    wire = ask(query)
    assert wire is not None
    question_end = 12 + len(b"\x04nope\x07example\x03net\x00") + 4
    assert wire[question_end : question_end + 2] == struct.pack(">H", 0xC000 | (12 + 5))
    resp = dns.message.from_wire(wire)
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert resp.flags & dns.flags.AA
    assert resp.authority == [SOA]
    assert resp.authority[0].ttl == 30


def test_refused_outside_the_zone() -> None:
    resp = dns.message.from_wire(ask(dns.message.make_query("example.org.", "A")) or b"")
    assert resp.rcode() == dns.rcode.REFUSED
    assert not resp.flags & (dns.flags.AA | dns.flags.RA)


@pytest.mark.parametrize("do", [False, True])
@pytest.mark.parametrize("rdtype", ["A", "ANY"])  # the fast path, the slow path
def test_refused_says_not_authoritative_with_edns(do: bool, rdtype: str) -> None:
    # RFC 8914 §4.21, as NSD 4.6 and Knot 3.2 answer (the differential suite compares them)
    query = dns.message.make_query("example.org.", rdtype, use_edns=0, want_dnssec=do)
    resp = dns.message.from_wire(ask(query) or b"")
    assert resp.rcode() == dns.rcode.REFUSED
    assert [opt.to_text() for opt in resp.options] == ["EDE 20 (Not Authoritative)"]
    assert bool(resp.ednsflags & dns.flags.DO) == do
    assert resp.payload == da.EDNS_PAYLOAD
    plain = dns.message.from_wire(ask(dns.message.make_query("example.org.", "A")) or b"")
    assert plain.edns == -1  # no EDNS asked, none answered


def test_edns_echo_and_do_bit() -> None:
    query = dns.message.make_query(
        "www.example.net.", "A", use_edns=0, payload=4096, want_dnssec=True
    )
    resp = dns.message.from_wire(ask(query) or b"")
    assert resp.edns == 0
    assert resp.payload == 1232
    assert resp.ednsflags & dns.flags.DO
    query = dns.message.make_query("www.example.net.", "A", use_edns=0)
    resp = dns.message.from_wire(ask(query) or b"")
    assert not resp.ednsflags & dns.flags.DO


@pytest.mark.parametrize(
    "options",
    [
        [dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8)],
        [dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")],
        [
            dns.edns.ECSOption("192.0.2.0", 24),
            dns.edns.GenericOption(dns.edns.OptionType.PADDING, b"\x00" * 20),
        ],
    ],
)
def test_edns_options_are_ignored(options: list[dns.edns.Option]) -> None:
    # RFC 6891 §6.1.2: options a responder does not implement are ignored.
    query = dns.message.make_query("www.example.net.", "A", use_edns=0, options=options)
    resp = dns.message.from_wire(ask(query) or b"")
    assert resp.answer == [A]
    assert not resp.options
    assert resp.edns == 0


@pytest.mark.parametrize("cut", [1, 3, 5])
def test_malformed_option_list_is_formerr(cut: int) -> None:
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8)
    wire = dns.message.make_query("www.example.net.", "A", use_edns=0, options=[cookie]).to_wire()
    rdlength = len(wire) - 12 - 17 - 4 - 11  # header, name, type+class, OPT fixed part
    assert wire[-14:-12] == rdlength.to_bytes(2, "big")
    short = wire[:-cut]  # RDLENGTH now promises more than follows
    resp = dns.message.from_wire(ask(short) or b"")
    assert resp.rcode() == dns.rcode.FORMERR


def test_badvers() -> None:
    query = dns.message.make_query("www.example.net.", "A", use_edns=1)
    resp = dns.message.from_wire(ask(query) or b"")
    assert resp.rcode() == dns.rcode.BADVERS
    assert resp.edns == 0


BIG = dns.rrset.from_text_list(
    "big.example.net.", 60, "IN", "TXT", [f'"{"x" * 200}{i}"' for i in range(10)]
)


@pytest.mark.parametrize(
    ("payload", "limit"), [(None, 512), (512, 512), (1232, 1232), (4096, 1232)]
)
def test_too_big_for_udp_is_truncated(payload: int | None, limit: int) -> None:
    answers = {
        b"\x03big\x07example\x03net\x00\x00\x10": da.render(
            BIG.name, BIG.rdtype, da.QR | da.AA, [BIG]
        )
    }
    query = dns.message.make_query("big.example.net.", "TXT", use_edns=payload is not None)
    if payload:
        query.use_edns(0, payload=payload)
    wire = da.respond(query.to_wire(), False, answers, resolve)
    assert wire is not None
    assert len(wire) <= limit
    resp = dns.message.from_wire(wire)
    assert resp.flags & dns.flags.TC
    assert (resp.answer, resp.question[0].name) == ([], BIG.name)
    assert resp.edns == (0 if payload else -1)
    full = dns.message.from_wire(da.respond(query.to_wire(), True, answers, resolve) or b"")
    assert not full.flags & dns.flags.TC
    assert full.answer == [BIG]


def test_garbage_with_a_header_is_formerr() -> None:
    wire = bytes.fromhex("abcd 0100 0001 0000 0000 0000") + b"\x05ab"
    resp = dns.message.from_wire(ask(wire) or b"")
    assert resp.id == 0xABCD
    assert resp.rcode() == dns.rcode.FORMERR


@pytest.mark.parametrize("wire", [b"", b"\x00", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00"])
def test_no_header_is_dropped(wire: bytes) -> None:
    assert ask(wire) is None


def test_responses_are_never_answered() -> None:
    query = dns.message.make_query("www.example.net.", "A")
    query.flags |= dns.flags.QR
    assert ask(query) is None


@pytest.mark.parametrize(
    ("make", "rcode"),
    [
        (lambda: dns.message.make_query("www.example.net.", "A", rdclass="CH"), dns.rcode.REFUSED),
        (lambda: dns.message.make_query("example.net.", "AXFR"), dns.rcode.REFUSED),
        (lambda: dns.message.make_query("example.net.", "MAILB"), dns.rcode.NOTIMP),
    ],
)
def test_unusual_questions(make: object, rcode: int) -> None:
    resp = dns.message.from_wire(ask(make()) or b"")  # type: ignore[operator]
    assert resp.rcode() == rcode


def test_other_opcodes_are_notimp() -> None:
    query = dns.message.make_query("example.net.", "SOA")
    query.set_opcode(dns.opcode.NOTIFY)
    resp = dns.message.from_wire(ask(query) or b"")
    assert resp.rcode() == dns.rcode.NOTIMP
    assert resp.opcode() == dns.opcode.NOTIFY


def test_two_questions_are_formerr() -> None:
    query = dns.message.make_query("www.example.net.", "A")
    query.question.append(dns.rrset.RRset(WWW, dns.rdataclass.IN, dns.rdatatype.AAAA))
    assert dns.message.from_wire(ask(query) or b"").rcode() == dns.rcode.FORMERR


def test_compressed_question_takes_the_slow_path() -> None:
    # A question name that is a pointer to itself is a loop: FORMERR, not a hang.
    wire = bytes.fromhex("0001 0000 0001 0000 0000 0000 c00c 0001 0001")
    assert dns.message.from_wire(ask(wire) or b"").rcode() == dns.rcode.FORMERR


def test_label_offsets() -> None:
    assert da.label_offsets(b"\x03www\x07example\x03net\x00") == [0, 4, 12]
    assert da.label_offsets(b"\x00") == []
    assert da.label_offsets(b"\x03ww\x00") is None
    assert da.label_offsets(b"\x03www") is None
    assert da.label_offsets(b"\xc0\x0c") is None
    assert da.label_offsets(b"\x3f" + b"a" * 63 + b"\x00") == [0]
    assert da.label_offsets((b"\x3f" + b"a" * 63) * 4 + b"\x00") is None  # 257 > 255


def test_slip_reply_keeps_the_question_only() -> None:
    query = dns.message.make_query("www.example.net.", "A")
    slip = dns.message.from_wire(da.slip_reply(ask(query) or b""))
    assert slip.flags & dns.flags.TC
    assert slip.id == query.id
    assert (slip.question[0].name, slip.answer) == (WWW, [])


def test_render_wires_matches_render() -> None:
    wires = [rd.to_wire() for rd in A]
    fast = da.render_wires(WWW, dns.rdatatype.A, 60, wires, da.QR | da.AA)
    assert da.render(WWW, dns.rdatatype.A, da.QR | da.AA, [A]) == fast


def test_opt_with_a_length_but_no_options_is_formerr() -> None:
    query = dns.message.make_query("www.example.net.", "A", use_edns=0).to_wire()
    assert query[-2:] == b"\x00\x00"  # RDLENGTH of the OPT
    resp = dns.message.from_wire(ask(query[:-2] + b"\x00\x04") or b"")
    assert resp.rcode() == dns.rcode.FORMERR


def test_rrset_from_wires_round_trips_names() -> None:
    ns = dns.rrset.from_text("example.net.", 60, "IN", "NS", "ns1.example.net.", "ns2.example.org.")
    again = da.rrset_from_wires(ns.name, ns.rdtype, 60, [rd.to_wire() for rd in ns])
    assert again == ns
    fast = da.render_wires(ns.name, ns.rdtype, 60, [rd.to_wire() for rd in ns], da.QR)
    slow = da.render(ns.name, ns.rdtype, da.QR, [ns])
    assert fast[0] == slow[0]
    assert len(fast[1]) == len(slow[1])  # the same records, compressed alike (order may differ)
