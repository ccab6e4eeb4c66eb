"""Random and mutated packets into Catalog.respond and into the live listener."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import dns.edns
import dns.message
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .dns_fixtures import LOOPS, LiveDns, live_dns, make_catalog

CATALOG = make_catalog()
SEEDS = [
    dns.message.make_query("www.example.net.", "A").to_wire(),
    dns.message.make_query("nope.example.net.", "AAAA", use_edns=0, want_dnssec=True).to_wire(),
    dns.message.make_query("big.example.net.", "TXT", use_edns=0, payload=4096).to_wire(),
    dns.message.make_query("x.sub.example.net.", "A").to_wire(),
    dns.message.make_query("q.wild.example.net.", "ANY").to_wire(),
    dns.message.make_query("example.org.", "SOA").to_wire(),
    dns.message.make_query(
        "WWW.example.net.",
        "A",
        use_edns=0,
        options=[
            dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8),
            dns.edns.ECSOption("192.0.2.0", 24),
        ],
    ).to_wire(),
]

mutated = st.builds(
    lambda seed, edits, cut: _mutate(SEEDS[seed], edits, cut),
    st.integers(0, len(SEEDS) - 1),
    st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=6),
    st.integers(0, 100),
)
packets = st.one_of(st.binary(max_size=600), mutated)
FUZZ = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _mutate(seed: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(seed)
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    return bytes(data[: max(cut, 2)] if cut < len(data) else data)


def _check(query: bytes, resp: bytes | None, *, tcp: bool) -> None:
    if resp is None:
        return
    msg = dns.message.from_wire(resp)  # every response parses
    assert msg.id == struct.unpack(">H", query[:2])[0]
    assert msg.flags & dns.flags.QR
    if not tcp:
        assert len(resp) <= 1232


@FUZZ
@given(packets)
def test_respond_never_raises(query: bytes) -> None:
    for tcp in (False, True):
        _check(query, CATALOG.respond(query, tcp=tcp), tcp=tcp)


@pytest.fixture(scope="module", params=LOOPS)
def server(request: pytest.FixtureRequest) -> Iterator[LiveDns]:
    with live_dns(rrl=False, loop=str(request.param)) as live:
        yield live


def _alive(port: int) -> None:
    query = dns.message.make_query("www.example.net.", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query.to_wire(), ("127.0.0.1", port))
        assert dns.message.from_wire(sock.recv(4096)).answer[0][0].address == "192.0.2.1"


@settings(FUZZ, max_examples=150)
@given(st.lists(packets, min_size=1, max_size=20))
def test_live_udp_listener_survives(server: LiveDns, batch: list[bytes]) -> None:
    probe = dns.message.make_query("www.example.net.", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for query in batch:
            sock.sendto(query, ("127.0.0.1", server.port))
        # One thread answers the UDP socket in arrival order: every answer to the batch
        # comes before the probe's, which also shows the listener still alive.
        sock.sendto(probe.to_wire(), ("127.0.0.1", server.port))
        while True:
            msg = dns.message.from_wire(sock.recv(65535))  # every answer parses
            if msg.id == probe.id and msg.question == probe.question:
                break
    assert msg.answer[0][0].address == "192.0.2.1"


@settings(FUZZ, max_examples=60)
@given(st.lists(packets, min_size=1, max_size=5), st.booleans())
def test_live_tcp_listener_survives(server: LiveDns, batch: list[bytes], bad_frame: bool) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        stream = b"".join(struct.pack(">H", len(q)) + q for q in batch)
        if bad_frame:
            stream += b"\xff\xff\x00"  # a length promising more than ever comes
        sock.sendall(stream)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := _recv(sock):
            data += chunk
    while len(data) >= 2:
        size = struct.unpack(">H", data[:2])[0]
        dns.message.from_wire(data[2 : 2 + size])
        data = data[2 + size :]
    _alive(server.port)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65535)
    except (TimeoutError, ConnectionResetError):
        return b""


def test_listener_answers_after_fuzzing(server: LiveDns) -> None:
    _alive(server.port)
    assert server.server.stats.by_rcode().get(dns.rcode.to_text(dns.rcode.NOERROR), 0) > 0
