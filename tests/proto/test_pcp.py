"""PCP MAP/ANNOUNCE against RFC 6887 layouts and bytes captured from miniupnpd 2.3.1."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport.errors import LocalProtocolError, RemoteProtocolError
from homeport.proto import pcp

NONCE = bytes(range(1, 13))
# The request we sent in the lab and miniupnpd's answer (tcp 8080 -> 8080 for 600 s).
MAP_REQUEST = bytes.fromhex(
    "020100000000025800000000000000000000ffffc0a84d0a0102030405060708090a0b0c"
    "060000001f901f9000000000000000000000ffff00000000"
)
MAP_ANSWER = bytes.fromhex(
    "0281000000000258000000000000000000000000000000000102030405060708090a0b0c"
    "060000001f901f9000000000000000000000ffffcb007102"
)
ANNOUNCE_ANSWER = bytes.fromhex("028000000000000000000000000000000000000000000000")


def test_map_request_matches_the_wire_layout() -> None:
    request = pcp.map_request(
        nonce=NONCE,
        client="192.168.77.10",
        protocol="tcp",
        internal_port=8080,
        external_port=8080,
        lifetime=600,
    )
    assert request == MAP_REQUEST
    assert len(request) == pcp.HEADER_SIZE + pcp.MAP_SIZE


def test_map_request_for_ipv6_client_suggests_any_v6() -> None:
    request = pcp.map_request(
        nonce=NONCE,
        client="2001:db8::5",
        protocol="udp",
        internal_port=1,
        external_port=0,
        lifetime=0,
    )
    assert request[8:24] == IPv6Address("2001:db8::5").packed
    assert request[44:60] == bytes(16)
    assert request[36] == 17


def test_nonce_must_be_twelve_bytes() -> None:
    with pytest.raises(LocalProtocolError):
        pcp.map_request(
            nonce=b"short",
            client="10.0.0.2",
            protocol="tcp",
            internal_port=1,
            external_port=1,
            lifetime=1,
        )


def test_decode_map_answer_from_miniupnpd() -> None:
    answer = pcp.decode(MAP_ANSWER)
    assert answer.opcode == pcp.OP_MAP
    assert answer.result == pcp.SUCCESS
    assert (answer.lifetime, answer.epoch, answer.nonce) == (600, 0, NONCE)
    assert (answer.protocol, answer.internal_port, answer.external_port) == ("tcp", 8080, 8080)
    assert answer.external_address == IPv4Address("203.0.113.2")
    assert pcp.matches(MAP_REQUEST, MAP_ANSWER)


def test_matches_ignores_granted_port_but_not_nonce() -> None:
    other_port = MAP_ANSWER[:42] + (1024).to_bytes(2, "big") + MAP_ANSWER[44:]
    assert pcp.matches(MAP_REQUEST, other_port)
    other_nonce = MAP_ANSWER[:24] + bytes(12) + MAP_ANSWER[36:]
    assert not pcp.matches(MAP_REQUEST, other_nonce)


def test_announce() -> None:
    request = pcp.announce_request("192.168.77.10")
    assert request[:4] == b"\x02\x00\x00\x00"
    assert len(request) == 24
    answer = pcp.decode(ANNOUNCE_ANSWER)
    assert (answer.opcode, answer.result) == (pcp.OP_ANNOUNCE, 0)
    assert pcp.matches(request, ANNOUNCE_ANSWER)


def test_cgnat_refusal_code_is_kept() -> None:
    refused = MAP_ANSWER[:3] + bytes([pcp.NO_RESOURCES]) + MAP_ANSWER[4:]
    assert pcp.decode(refused).result == 8
    assert pcp.result_text(8) == "NO_RESOURCES"


def test_natpmp_answer_is_not_pcp() -> None:
    # A NAT-PMP-only router answers version 0 ("unsupported version"), RFC 6887 §9.
    with pytest.raises(RemoteProtocolError):
        pcp.decode(bytes.fromhex("0081000100000005") + bytes(16))


def test_retransmission_schedule() -> None:
    no_jitter = itertools.repeat(0.0)
    delays = list(itertools.islice(pcp.retransmit_delays(no_jitter), 12))
    assert delays[:4] == [3.0, 6.0, 12.0, 24.0]
    assert max(delays) == pcp.MAX_RT  # capped at MRT (§8.1.1)
    bounded = list(pcp.retransmit_delays(itertools.repeat(0.1), max_duration=10))
    assert sum(bounded) == pytest.approx(10)
    assert bounded[0] == pytest.approx(3.3)
