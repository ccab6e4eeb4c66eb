"""The TCP side of the listener (RFC 7766): pipelining, connection cap, idle timeout."""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import time

import dns.message
import pytest

from homeport.io import dns_tcp

from .dns_fixtures import live_dns


def _frame(name: str, qid: int, rdtype: str = "A") -> bytes:
    wire = dns.message.make_query(name, rdtype, id=qid).to_wire()
    return struct.pack(">H", len(wire)) + wire


def _read(sock: socket.socket, count: int) -> list[dns.message.Message]:
    data = b""
    out = []
    while len(out) < count:
        chunk = sock.recv(65535)
        assert chunk, "connection closed early"
        data += chunk
        while len(data) >= 2 and len(data) >= 2 + struct.unpack(">H", data[:2])[0]:
            size = struct.unpack(">H", data[:2])[0]
            out.append(dns.message.from_wire(data[2 : 2 + size]))
            data = data[2 + size :]
    return out


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_pipelined_queries_on_one_connection() -> None:
    with live_dns() as live, socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        names = ["www.example.net.", "nope.example.net.", "home.example.net."] * 3
        # all queries in one write, one split across writes
        sock.sendall(b"".join(_frame(n, i) for i, n in enumerate(names)))
        half = _frame("www.example.net.", 99)
        sock.sendall(half[:5])
        time.sleep(0.05)
        sock.sendall(half[5:])
        replies = _read(sock, len(names) + 1)
        assert [r.id for r in replies] == [*range(len(names)), 99]
        assert replies[0].answer[0][0].address == "192.0.2.1"
        assert replies[1].rcode() == dns.rcode.NXDOMAIN


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))


def test_a_full_table_closes_the_longest_idle_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns_tcp, "MAX_TCP_CONNECTIONS", 2)
    with live_dns() as live:
        first = _connect(live.port, "127.0.0.1")
        second = _connect(live.port, "127.0.0.2")
        try:
            for sock in (first, second):  # both served, then idle
                sock.sendall(_frame("www.example.net.", 1))
                assert _read(sock, 1)[0].id == 1
            with _connect(live.port, "127.0.0.3") as third:
                third.sendall(_frame("www.example.net.", 3))
                assert _read(third, 1)[0].id == 3  # served: it took the idle slot
                assert _closed_by_server(first, 5)  # idle the longest
                second.sendall(_frame("www.example.net.", 2))
                assert _read(second, 1)[0].id == 2  # still served
        finally:
            first.close()
            second.close()


def test_one_source_cannot_take_every_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns_tcp, "MAX_TCP_PER_SOURCE", 2)
    with live_dns() as live:
        mine = [_connect(live.port, "127.0.0.5") for _ in range(2)]
        try:
            with _connect(live.port, "127.0.0.5") as third:
                assert _closed_by_server(third, 5)
            with _connect(live.port, "127.0.0.6") as other:
                other.sendall(_frame("www.example.net.", 6))
                assert _read(other, 1)[0].id == 6
            mine[0].close()
            time.sleep(0.2)  # the server sees the close; then a slot is free again
            with _connect(live.port, "127.0.0.5") as again:
                again.sendall(_frame("www.example.net.", 5))
                assert _read(again, 1)[0].id == 5
        finally:
            for sock in mine:
                sock.close()


def test_a_message_must_arrive_within_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each byte used to reset the idle timer: a trickle held the slot for ever.
    monkeypatch.setattr(dns_tcp, "TCP_MESSAGE_DEADLINE", 0.5)
    with live_dns() as live, _connect(live.port) as sock:
        frame = _frame("www.example.net.", 8)
        sock.sendall(frame[:1])
        sock.settimeout(0.2)
        for byte in frame[1:-1]:  # a byte every 0.2 s, never the last one
            try:
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                sock.sendall(bytes([byte]))
            except ConnectionResetError:
                break
        else:
            raise AssertionError("the trickle was never cut off")


def test_source_key() -> None:
    assert dns_tcp.source_key(("192.0.2.7", 53)) == bytes([192, 0, 2, 7])
    assert dns_tcp.source_key(("::ffff:192.0.2.7", 53, 0, 0)) == bytes([192, 0, 2, 7])
    one = dns_tcp.source_key(("2001:db8:1:2::1", 53, 0, 0))
    assert one == dns_tcp.source_key(("2001:db8:1:2:ffff::9%eth0", 53, 0, 0))
    assert one != dns_tcp.source_key(("2001:db8:1:3::1", 53, 0, 0))
    assert dns_tcp.source_key(None) == b""


def test_idle_connections_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns_tcp, "TCP_IDLE_TIMEOUT", 0.3)
    with live_dns() as live, socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        sock.sendall(_frame("www.example.net.", 7))
        assert _read(sock, 1)[0].id == 7
        assert _closed_by_server(sock, 5)


def test_ephemeral_port_is_shared_by_udp_and_tcp() -> None:
    with live_dns() as live:
        assert live.server.udp_address == live.server.tcp_address
        assert live.server.udp_address[1] > 0


def test_ipv6_loopback() -> None:
    with live_dns(host="::1", rrl=True) as live:
        assert live.server.udp_address[0] == "::1"
        for transport in ((), ("+tcp",)):
            out = subprocess.run(
                ["dig", "@::1", "-p", str(live.port), "+short", *transport, "www.example.net", "A"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert out.stdout.strip() == "192.0.2.1"


def test_a_client_that_does_not_read_its_answers_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pipelined queries for a 2 KB answer, never read: the server stops reading
    # (pause_writing) and must drain within the message deadline, else the slot goes.
    monkeypatch.setattr(dns_tcp, "TCP_MESSAGE_DEADLINE", 0.5)
    with live_dns() as live, _connect(live.port) as sock:
        frames = b"".join(_frame("big.example.net.", i, "TXT") for i in range(256)) * 40
        sock.settimeout(5)
        with contextlib.suppress(TimeoutError, ConnectionResetError, BrokenPipeError):
            sock.sendall(frames)  # ~20 MB of answers asked for; stalls once buffers fill
        deadline = time.monotonic() + 30
        while live.call(lambda: len(live.server._tcp_conns.conns)) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling for the close (presence), bounded
        assert not live.call(lambda: len(live.server._tcp_conns.conns))
