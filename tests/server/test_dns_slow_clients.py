"""Slow DNS-over-TCP clients against a running ``homeport server run``.

The attack: 100 connections to the DNS port, each trickling one byte of a query
every few seconds. Each byte used to reset the idle timer and nothing capped a
source, so the trickle held every TCP slot for as long as it went on and
``dig +tcp`` from anyone else was refused.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import subprocess

import dns.message

from homeport.io import dns_tcp

from .conftest import ServerProc

NAME = "ns1.dyn.example.net."  # the fixture zone's NS glue: 192.0.2.53
TRICKLE_SOURCES = [f"127.0.0.{i}" for i in range(1, 11)]  # 10 sources x 10 = the whole table


def _frame(qid: int) -> bytes:
    wire = dns.message.make_query(NAME, "A", id=qid).to_wire()
    return struct.pack(">H", len(wire)) + wire


def _connect(srv: ServerProc, source: str) -> socket.socket:
    return socket.create_connection(srv.dns, timeout=10, source_address=(source, 0))


def _answered(sock: socket.socket, qid: int) -> bool:
    """Send a whole query; True if it is answered, False if the server closed instead."""
    try:
        sock.sendall(_frame(qid))
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = sock.recv(4096)
            if not chunk:
                return False
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return False
    return dns.message.from_wire(data[2:]).id == qid


def test_one_source_holds_at_most_its_share(server: ServerProc) -> None:
    socks = [_connect(server, "127.0.0.1") for _ in range(dns_tcp.MAX_TCP_CONNECTIONS)]
    try:
        answered = [_answered(sock, i) for i, sock in enumerate(socks)]
        # Before: all 100 were served (one address could take the whole table).
        assert sum(answered) == dns_tcp.MAX_TCP_PER_SOURCE
        with _connect(server, "127.0.0.2") as other:
            assert _answered(other, 7)
    finally:
        for sock in socks:
            sock.close()


def test_trickling_connections_are_cut_and_others_are_served(server: ServerProc) -> None:
    frame = _frame(1)
    socks = [
        _connect(server, source)
        for source in TRICKLE_SOURCES
        for _ in range(dns_tcp.MAX_TCP_PER_SOURCE)
    ]
    sel = selectors.DefaultSelector()
    try:
        for sock in socks:
            sock.sendall(frame[:1])
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        # Every slot now holds a half-sent query. Other clients still get answers
        # (a full table gives the stalled connections' slots away): before, both
        # were refused until the trickle stopped.
        for tool, source in (("dig", "127.0.0.200"), ("kdig", "127.0.0.201")):
            out = subprocess.run(
                [
                    *(tool, f"@{server.dns[0]}", "-p", str(server.dns[1]), "-b", source),
                    *("+tcp", "+short", "+time=5", NAME, "A"),
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert out.stdout.strip() == "192.0.2.53", (tool, out.stdout, out.stderr)
        # Keep trickling one byte a second; every connection must see the server
        # close it before the query is complete (before: none ever did).
        open_ = set(socks)
        for byte in frame[1:-1]:
            for key, _ in sel.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                assert data == b"", "an incomplete query was answered"
                sel.unregister(sock)
                open_.discard(sock)
            if not open_:
                break
            for sock in open_:
                # A closed one is reported by select in the next round.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.send(bytes([byte]))
        assert not open_, f"{len(open_)} trickling connections were never closed"
        # and the server is none the worse for it
        assert server.dig(NAME, "A", "+tcp") == ["192.0.2.53"]
        assert server.dig(NAME, "A") == ["192.0.2.53"]
    finally:
        sel.close()
        for sock in socks:
            sock.close()
