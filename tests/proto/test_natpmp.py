"""NAT-PMP packets against RFC 6886 layouts and bytes captured from miniupnpd 2.3.1 (the lab)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from homeport.errors import RemoteProtocolError
from homeport.proto import natpmp

# Captured in the lab: answers to "external address?" and "map tcp 8080->8080 for 3600 s".
EXT_ANSWER = bytes.fromhex("0080000000000000cb007102")
MAP_ANSWER = bytes.fromhex("00820000000000001f901f9000000e10")
DELETE_ANSWER = bytes.fromhex("00820000000000001f90000000000000")


def test_external_address_request_is_two_bytes() -> None:
    assert natpmp.external_address_request() == b"\x00\x00"


def test_map_request_layout() -> None:
    # §3.3: version 0, opcode 2 (TCP), reserved, internal, suggested external, lifetime.
    assert natpmp.map_request("tcp", 8080, 8080, 3600) == bytes.fromhex("000200001f901f9000000e10")
    assert natpmp.map_request("UDP", 53, 5353, 60)[1] == natpmp.OP_MAP_UDP


def test_delete_request_has_zero_external_port_and_lifetime() -> None:
    assert natpmp.delete_request("tcp", 8080) == bytes.fromhex("000200001f90000000000000")


def test_decode_external_address_from_miniupnpd() -> None:
    answer = natpmp.decode(EXT_ANSWER)
    assert answer == natpmp.ExternalAddressResponse(0, 0, IPv4Address("203.0.113.2"))


def test_decode_map_answer_from_miniupnpd() -> None:
    answer = natpmp.decode(MAP_ANSWER)
    assert isinstance(answer, natpmp.MapResponse)
    assert (answer.protocol, answer.internal_port, answer.external_port, answer.lifetime) == (
        "tcp",
        8080,
        8080,
        3600,
    )


def test_decode_error_answer_keeps_result_code() -> None:
    # CGNAT in the lab: result 3 "network failure".
    data = bytes.fromhex("008200030000000a1f90000000000000")
    answer = natpmp.decode(data)
    assert answer.result == 3
    assert natpmp.result_text(answer.result) == "network failure"
    assert natpmp.decode(bytes.fromhex("0080000300000001")).address is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x80", bytes.fromhex("0200000000000000"), bytes.fromhex("0001000000000000")],
)
def test_decode_rejects_non_responses(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        natpmp.decode(data)


def test_matches_pairs_answers_with_requests() -> None:
    request = natpmp.map_request("tcp", 8080, 8080, 3600)
    assert natpmp.matches(request, MAP_ANSWER)
    assert natpmp.matches(natpmp.delete_request("tcp", 8080), DELETE_ANSWER)
    assert not natpmp.matches(natpmp.map_request("tcp", 9000, 9000, 60), MAP_ANSWER)
    assert not natpmp.matches(natpmp.map_request("udp", 8080, 8080, 60), MAP_ANSWER)
    assert natpmp.matches(natpmp.external_address_request(), EXT_ANSWER)


def test_retransmission_schedule_doubles_from_250_ms() -> None:
    delays = list(natpmp.retransmit_delays())
    assert delays[:4] == [0.25, 0.5, 1.0, 2.0]
    assert len(delays) == 9
    assert sum(delays) == pytest.approx(127.75)  # 9 tries; last wait 64 s (§3.1)
