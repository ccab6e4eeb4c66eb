"""RFC 8945 error handling of a running server: BADKEY, BADSIG, BADTIME, BADTRUNC,
FORMERR for impossible MAC lengths, and signed queries answered signed.

Requests are built with dnspython's TSIG code but signed at a chosen time, or with a
cut MAC, which dnspython's own senders never do; they go over UDP and TCP.
"""

from __future__ import annotations

import socket
import struct
import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig
import dns.update
import pytest

from tests.server.challenge_helpers import tsig_key, txt
from tests.server.conftest import ServerProc

HOST = "home.dyn.example.net"
CHALLENGE = f"_acme-challenge.{HOST}."
V1 = "a" * 43


def _signed(
    msg: dns.message.Message, key: dns.tsig.Key, when: int, mac_len: int | None = None
) -> tuple[bytes, bytes]:
    """``msg`` signed at ``when`` (MAC cut to ``mac_len``): (wire, MAC)."""
    wire = msg.to_wire()
    template = dns.rdtypes.ANY.TSIG.TSIG(
        dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm, when, 300, b"", msg.id, 0, b""
    )
    rdata, _ = dns.tsig.sign(wire, key, template, when)
    if mac_len is not None:
        rdata = rdata.replace(mac=rdata.mac[:mac_len])
    body = rdata.to_wire()
    record = key.name.to_wire() + struct.pack(">HHIH", 250, 255, 0, len(body)) + body
    arcount = struct.unpack(">H", wire[10:12])[0] + 1
    return wire[:10] + struct.pack(">H", arcount) + wire[12:] + record, rdata.mac


def _exchange(srv: ServerProc, wire: bytes, tcp: bool) -> bytes:
    if tcp:
        with socket.create_connection(srv.dns, timeout=10) as sock:
            sock.sendall(struct.pack(">H", len(wire)) + wire)
            head = sock.recv(2, socket.MSG_WAITALL)
            return sock.recv(struct.unpack(">H", head)[0], socket.MSG_WAITALL)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(wire, srv.dns)
        return sock.recv(65535)


def _update_msg() -> dns.update.UpdateMessage:
    msg = dns.update.UpdateMessage("dyn.example.net")
    msg.add(CHALLENGE, 60, "TXT", V1)
    return msg


def _tsig_of(resp: bytes) -> tuple[dns.message.Message, dns.rdtypes.ANY.TSIG.TSIG]:
    parsed = dns.message.from_wire(resp, keyring=False)
    assert parsed.tsig is not None, "the response carries a TSIG record"
    rdata = parsed.tsig[0]
    assert isinstance(rdata, dns.rdtypes.ANY.TSIG.TSIG)
    return parsed, rdata


@pytest.mark.parametrize("tcp", [True, False], ids=["tcp", "udp"])
def test_badtime_is_signed_with_the_servers_time(server: ServerProc, tcp: bool) -> None:
    server.add_host(HOST)
    key = tsig_key(server, HOST)
    skewed = int(time.time()) - 3600  # a client clock an hour slow: outside the 300 s fudge
    wire, mac = _signed(_update_msg(), key, skewed)
    parsed, rdata = _tsig_of(_exchange(server, wire, tcp))
    assert parsed.rcode() == dns.rcode.NOTAUTH
    assert rdata.error == dns.rcode.BADTIME
    # RFC 8945 §5.2.3: signed (the MAC was good), Time Signed the request's, Other Data
    # the server's clock (48 bits) so the client can see the skew.
    assert rdata.time_signed == skewed
    assert len(rdata.other) == 6
    server_time = int.from_bytes(rdata.other, "big")
    assert abs(server_time - (skewed + 3600)) < 300
    unsigned = resp_without_tsig(_exchange(server, wire, tcp))
    expected, _ = dns.tsig.sign(unsigned, key, rdata.replace(mac=b""), rdata.time_signed, mac)
    assert expected.mac == rdata.mac
    assert txt(server, CHALLENGE) == []


def resp_without_tsig(resp: bytes) -> bytes:
    parsed = dns.message.from_wire(resp, keyring=False)
    assert parsed.tsig is not None
    rdata = parsed.tsig[0]
    body = rdata.to_wire()
    owner = parsed.tsig.name.to_wire()
    size = len(owner) + 10 + len(body)
    arcount = struct.unpack(">H", resp[10:12])[0] - 1
    return resp[:10] + struct.pack(">H", arcount) + resp[12:-size]


@pytest.mark.parametrize("tcp", [True, False], ids=["tcp", "udp"])
def test_truncated_mac_is_badtrunc_and_too_short_is_formerr(server: ServerProc, tcp: bool) -> None:
    server.add_host(HOST)
    key = tsig_key(server, HOST)  # hmac-sha256: 32-octet MAC
    now = int(time.time())
    wire, _ = _signed(_update_msg(), key, now, mac_len=16)  # half: allowed form, not our policy
    parsed, rdata = _tsig_of(_exchange(server, wire, tcp))
    assert parsed.rcode() == dns.rcode.NOTAUTH
    assert rdata.error == dns.rcode.BADTRUNC
    assert rdata.mac == b""  # not signed: the request's MAC was not accepted
    wire, _ = _signed(_update_msg(), key, now, mac_len=8)  # < max(10, 16): FORMERR (§5.2.2.1)
    resp = dns.message.from_wire(_exchange(server, wire, tcp), keyring=False)
    assert resp.rcode() == dns.rcode.FORMERR
    assert txt(server, CHALLENGE) == []


@pytest.mark.parametrize("tcp", [True, False], ids=["tcp", "udp"])
def test_badkey_and_badsig_are_unsigned(server: ServerProc, tcp: bool) -> None:
    server.add_host(HOST)
    key = tsig_key(server, HOST)
    now = int(time.time())
    unknown = dns.tsig.Key("nobody.dyn.example.net.", key.secret, key.algorithm)
    wrong = dns.tsig.Key(key.name, b"x" * 32, key.algorithm)
    other_algorithm = dns.tsig.Key(key.name, key.secret, dns.tsig.HMAC_SHA512)
    for bad, error in (
        (unknown, dns.rcode.BADKEY),
        (other_algorithm, dns.rcode.BADKEY),
        (wrong, dns.rcode.BADSIG),
    ):
        wire, _ = _signed(_update_msg(), bad, now)
        parsed, rdata = _tsig_of(_exchange(server, wire, tcp))
        assert (parsed.rcode(), rdata.error, rdata.mac) == (dns.rcode.NOTAUTH, error, b"")
    assert txt(server, CHALLENGE) == []
    failures = [line for line in server.output if "auth failure" in line and "rfc2136" in line]
    assert len(failures) == 3
    secret_b64 = __import__("base64").b64encode(key.secret).decode()
    assert not any(secret_b64 in line for line in server.output)


@pytest.mark.parametrize("tcp", [True, False], ids=["tcp", "udp"])
def test_signed_soa_query_is_answered_signed(server: ServerProc, tcp: bool) -> None:
    # certbot-dns-rfc2136 signs its SOA query; dnspython checks the answer's TSIG.
    server.add_host(HOST)
    key = tsig_key(server, HOST)
    query = dns.message.make_query(CHALLENGE, "SOA")
    query.use_tsig(key)
    send = dns.query.tcp if tcp else dns.query.udp
    resp = send(query, server.dns[0], port=server.dns[1], timeout=10)
    # No such name yet: NXDOMAIN with the zone's SOA, which is how certbot finds the zone.
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert resp.had_tsig
    assert resp.flags & dns.flags.AA
    assert [rrset.name.to_text() for rrset in resp.authority] == ["dyn.example.net."]
    query = dns.message.make_query("dyn.example.net.", "SOA")
    query.use_tsig(key)
    resp = send(query, server.dns[0], port=server.dns[1], timeout=10)
    assert resp.answer
    assert resp.answer[0].rdtype == dns.rdatatype.SOA
    # Unsigned, the same question is answered as always.
    plain = send(
        dns.message.make_query("dyn.example.net.", "SOA"),
        server.dns[0],
        port=server.dns[1],
        timeout=10,
    )
    assert plain.answer == resp.answer
