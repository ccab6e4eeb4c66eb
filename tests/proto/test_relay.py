"""proto/relay.py: control lines, PROXY v2, and the SNI / Host peeks, without I/O."""

from __future__ import annotations

import contextlib
import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeport.errors import RemoteProtocolError
from homeport.proto import relay as wire

MESSAGES: list[wire.Message] = [
    wire.Hello(
        "home.dyn.example.net",
        "s3cret",
        (wire.TunnelSpec("http", 80), wire.TunnelSpec("tcp", 0, proxy=True)),
    ),
    wire.Welcome("abc", (wire.Granted("tcp", 0, 20000), wire.Granted("tls", 443, 443)), 30.0),
    wire.Error("badauth", "bad host name or secret"),
    wire.Error("limit", ""),
    wire.Spare("abc"),
    wire.Open("http", 80, "[2001:db8::1]:4242"),
    wire.Want(3),
    wire.Ping(),
    wire.Pong(),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_as_one_line(message: wire.Message) -> None:
    line = wire.encode(message)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert wire.decode(line) == message


def test_the_secret_never_shows_in_a_repr() -> None:
    hello = MESSAGES[0]
    assert "s3cret" not in repr(hello)
    assert "abc" not in repr(wire.Spare("abc"))


def test_error_codes_tell_fatal_from_retried() -> None:
    assert wire.Error("badauth", "").fatal
    assert not wire.Error("throttled", "").fatal


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"[]",
        b'{"op":"nope"}',
        b'{"op":"hello","v":1,"host":"h","secret":"s","tunnels":[{"kind":"udp","port":1}]}',
        b'{"op":"hello","v":1,"host":"h","secret":"s","tunnels":[{"kind":"tcp","port":70000}]}',
        b'{"op":"hello","v":1,"host":"","secret":"s","tunnels":[]}',
        b'{"op":"want","count":0}',
        b'{"op":"open","kind":"http","port":true,"peer":"1.2.3.4:5"}',
        b'{"op":"welcome","session":"x","heartbeat":0,"tunnels":[]}',
        b"{" + b" " * wire.MAX_LINE + b"}",
    ],
)
def test_malformed_lines_are_remote_protocol_errors(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        wire.decode(line)


@given(st.binary(max_size=600))
def test_decode_raises_only_remote_protocol_error_on_bytes(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        wire.decode(data)


scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
json_values = scalars | st.lists(
    st.fixed_dictionaries({}, optional={"kind": scalars, "port": scalars, "proxy": scalars}),
    max_size=3,
)


@given(
    st.sampled_from(["hello", "welcome", "error", "spare", "open", "want", "ping", "x"]),
    st.dictionaries(
        st.sampled_from(["v", "host", "secret", "tunnels", "session", "heartbeat", "kind", "port"]),
        json_values,
        max_size=5,
    ),
)
def test_decode_raises_only_remote_protocol_error_on_json(op: str, body: dict[str, object]) -> None:
    import json

    with contextlib.suppress(RemoteProtocolError):
        wire.decode(json.dumps({"op": op, **body}).encode())


@given(st.binary(max_size=300))
def test_peeks_raise_only_remote_protocol_error(data: bytes) -> None:
    for peek in (wire.tls_server_name, wire.http_host, wire.parse_proxy_v2):
        with contextlib.suppress(RemoteProtocolError):
            peek(data)


def client_hello(server_name: str | None) -> bytes:
    """The first flight of Python's own TLS client (OpenSSL), through a MemoryBIO."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_sni_from_a_real_client_hello() -> None:
    hello = client_hello("Home.Dyn.Example.NET")
    assert wire.tls_server_name(hello) == "home.dyn.example.net"
    # Byte by byte it waits for the whole record, then decides.
    for cut in (0, 1, 4, 5, 40, len(hello) - 1):
        assert wire.tls_server_name(hello[:cut]) is wire.NEED_MORE
    assert wire.tls_server_name(hello + b"trailing") == "home.dyn.example.net"


def test_a_client_hello_without_sni() -> None:
    assert wire.tls_server_name(client_hello(None)) is None


def test_not_tls_is_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        wire.tls_server_name(b"GET / HTTP/1.1\r\n\r\n")


@pytest.mark.parametrize(
    ("head", "host"),
    [
        (b"GET / HTTP/1.1\r\nHost: Home.Example.NET.:8080\r\n\r\n", "home.example.net"),
        (b"GET / HTTP/1.1\r\nhost:[2001:db8::1]:80\r\n\r\n", "2001:db8::1"),
        (b"GET / HTTP/1.0\r\nUser-Agent: x\r\n\r\n", None),
    ],
)
def test_http_host(head: bytes, host: str | None) -> None:
    assert wire.http_host(head) == host
    assert wire.http_host(head[:-2]) is wire.NEED_MORE


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"\x16\x03\x01",
        b"GET /\r\n\r\n",
        b"G" * wire.MAX_PEEK,
    ],
)
def test_bad_http_heads(head: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        wire.http_host(head)


@pytest.mark.parametrize(
    ("source", "destination", "length"),
    [
        (("192.0.2.1", 51000), ("203.0.113.1", 80), 28),
        (("2001:db8::1", 51000), ("2001:db8::2", 443), 52),
        (("192.0.2.1", 1), ("2001:db8::2", 443), 52),  # mixed: v4-mapped
    ],
)
def test_proxy_v2_round_trips(
    source: tuple[str, int], destination: tuple[str, int], length: int
) -> None:
    header = wire.proxy_v2_header(source, destination)
    assert header.startswith(wire.PROXY_V2_SIGNATURE)
    assert len(header) == length
    assert wire.parse_proxy_v2(header + b"GET") == (source, destination, length)
    for cut in range(len(header)):
        assert wire.parse_proxy_v2(header[:cut]) is None


def test_proxy_v2_v4_bytes_as_haproxy_specifies() -> None:
    header = wire.proxy_v2_header(("192.0.2.1", 0x1234), ("203.0.113.1", 80))
    assert header[12:16] == b"\x21\x11\x00\x0c"  # v2 PROXY, TCP over IPv4, 12 bytes
    assert header[16:] == bytes([192, 0, 2, 1, 203, 0, 113, 1, 0x12, 0x34, 0, 80])


def test_not_a_proxy_header() -> None:
    with pytest.raises(RemoteProtocolError):
        wire.parse_proxy_v2(b"GET / HTTP/1.1\r\n\r\n")


def test_peer_text() -> None:
    assert wire.format_peer("2001:db8::1", 80) == "[2001:db8::1]:80"
    assert wire.parse_peer("[2001:db8::1]:80")[1] == 80
    with pytest.raises(RemoteProtocolError):
        wire.parse_peer("nohost")
