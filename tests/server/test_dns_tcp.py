"""The TCP side of the listener (RFC 7766): pipelining, connection cap, idle timeout."""

from __future__ import annotations

import socket
import struct
import subprocess
import time

import dns.message
import pytest

from homeport.io import dns_server

from .dns_fixtures import live_dns


def _frame(name: str, qid: int) -> bytes:
    wire = dns.message.make_query(name, "A", id=qid).to_wire()
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


def test_connection_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns_server, "MAX_TCP_CONNECTIONS", 2)
    with live_dns() as live:
        first = socket.create_connection(("127.0.0.1", live.port), timeout=5)
        second = socket.create_connection(("127.0.0.1", live.port), timeout=5)
        try:
            for sock in (first, second):  # both served
                sock.sendall(_frame("www.example.net.", 1))
                assert _read(sock, 1)[0].id == 1
            with socket.create_connection(("127.0.0.1", live.port), timeout=5) as third:
                assert _closed_by_server(third, 5)
            first.close()
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", live.port), timeout=5) as fourth:
                fourth.sendall(_frame("www.example.net.", 4))
                assert _read(fourth, 1)[0].id == 4  # a slot came free
        finally:
            first.close()
            second.close()


def test_idle_connections_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns_server, "TCP_IDLE_TIMEOUT", 0.3)
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
