"""RFC 5769 test vectors through the STUN codec."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from homeport.errors import RemoteProtocolError
from homeport.proto import stun

TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")

# RFC 5769 §2.1: short-term credentials, password "VOkJxbRl1RmTxUk/WvJxBt".
REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e2074657374 20636c69656e74"
    "002400046e0001ff"
    "80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf".replace(" ", "")
)
# §2.2: IPv4 response, 192.0.2.1 port 32853.
RESPONSE_V4 = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)
# §2.3: IPv6 response, 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
RESPONSE_V6 = bytes.fromhex(
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c"
)
PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"


@pytest.mark.parametrize("data", [REQUEST, RESPONSE_V4, RESPONSE_V6])
def test_rfc5769_integrity_and_fingerprint(data: bytes) -> None:
    assert stun.check_fingerprint(data)
    assert stun.check_integrity(data, PASSWORD)
    assert not stun.check_integrity(data, b"wrong password")
    broken = bytearray(data)
    broken[-10] ^= 1
    assert not stun.check_fingerprint(bytes(broken))


def test_rfc5769_request_decodes() -> None:
    message = stun.decode(REQUEST)
    assert message.type == stun.BINDING_REQUEST
    assert message.transaction_id == TXID
    assert message.get(stun.ATTR_USERNAME) == b"evtj:h6vY"
    assert message.get(stun.ATTR_SOFTWARE) == b"STUN test client"


def test_rfc5769_ipv4_response() -> None:
    mapped = stun.parse_binding_response(RESPONSE_V4, TXID)
    assert mapped == stun.MappedAddress(ip_address("192.0.2.1"), 32853)


def test_rfc5769_ipv6_response() -> None:
    mapped = stun.parse_binding_response(RESPONSE_V6, TXID)
    assert mapped.address == ip_address("2001:db8:1234:5678:11:2233:4455:6677")
    assert mapped.port == 32853


def test_encoder_reproduces_the_vector() -> None:
    software = b"test vector "[:11]
    xor_v4 = bytes.fromhex("0001a147e112a643")
    again = stun.encode(
        stun.BINDING_SUCCESS,
        TXID,
        ((stun.ATTR_SOFTWARE, software), (stun.ATTR_XOR_MAPPED_ADDRESS, xor_v4)),
        integrity_key=PASSWORD,
        fingerprint=True,
    )
    # The vector pads SOFTWARE with a space where we pad with zero; integrity covers padding.
    assert again[:32] == RESPONSE_V4[:32]
    assert stun.check_integrity(again, PASSWORD)
    assert stun.check_fingerprint(again)


def test_binding_request_roundtrip() -> None:
    data = stun.binding_request(TXID, software="homeport")
    message = stun.decode(data)
    assert message.type == stun.BINDING_REQUEST
    assert stun.check_fingerprint(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 19, RESPONSE_V4[:-1], b"\xc0" + RESPONSE_V4[1:]],
)
def test_malformed_is_remote_protocol_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        stun.parse_binding_response(data, TXID)


def test_other_transaction_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="another transaction"):
        stun.parse_binding_response(RESPONSE_V4, bytes(12))
