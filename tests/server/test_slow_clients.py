"""Slow and greedy HTTP clients against a running server.

Silent connections, half-sent request heads and byte-a-second tricklers are
closed once ``[limits] http_request_timeout`` has passed (the tests wait for the
server to close them: EOF or a reset); one source's connections beyond
``http_connections_per_source`` are refused at once; a legitimate update from
another loopback address succeeds all the while.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import re
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server

HOST = "slow.dyn.example.net"
ATTACKER = "127.0.0.1"
ATTACKER_2 = "127.0.0.3"
CLIENT = "127.0.0.2"  # the legitimate client: another source on loopback
REQUEST_TIMEOUT = 2
# Generous: the server closes them after REQUEST_TIMEOUT; on a loaded machine later.
CLOSE_WAIT = 60
HALF_HEAD = b"GET /nic/update?hostname=slow.dyn.example.net HTTP/1.1\r\nHost: x\r\nX-Slow: "


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[ServerProc, str]]:
    yield from _server(tmp_path, per_source=1000, timeout=REQUEST_TIMEOUT)


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[tuple[ServerProc, str]]:
    # The default deadline: the cap, not the deadline, must be what closes the extras.
    yield from _server(tmp_path, per_source=8, trusted="127.0.0.4/32", timeout=10)


def _server(
    tmp_path: Path, per_source: int, timeout: float, trusted: str | None = None
) -> Iterator[tuple[ServerProc, str]]:
    data = tmp_path / "data"
    config = tmp_path / "server.toml"
    server = f'[server]\ntrusted_proxies = ["{trusted}"]\n' if trusted else ""
    config.write_text(
        f"{server}[limits]\nhttp_request_timeout = {timeout}\n"
        f"http_connections_per_source = {per_source}\n"
    )
    result = run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data))
    assert result.returncode == 0, result.stderr
    secret = add_hosts(data, [HOST])[HOST]
    srv = start_server(data, "--config", str(config))
    try:
        yield srv, secret
    finally:
        stop_server(srv)


def connect(srv: ServerProc, source: str, first: bytes = b"") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(srv.http)
    if first:
        sock.sendall(first)
    return sock


def update(srv: ServerProc, secret: str, ip: str, source: str = CLIENT) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*srv.http, timeout=20, source_address=(source, 0))
    token = base64.b64encode(f"{HOST}:{secret}".encode()).decode()
    try:
        conn.request(
            "GET",
            f"/nic/update?hostname={HOST}&myip={ip}",
            headers={"Authorization": f"Basic {token}", "User-Agent": "homeport-test/1"},
        )
        response = conn.getresponse()
        return response.status, response.read().decode().strip()
    finally:
        conn.close()


def wait_closed(
    socks: list[socket.socket], limit: float = CLOSE_WAIT, trickle: bool = False
) -> list[socket.socket]:
    """Wait until the server closed every one (EOF or reset); return those still open.

    ``trickle``: meanwhile send each open one a byte every half second (slowloris).
    """
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    still = set(socks)
    deadline = time.monotonic() + limit
    while still and time.monotonic() < deadline:
        for key, _ in selector.select(0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                still.discard(sock)
                selector.unregister(sock)
        if trickle:
            for sock in still:
                with contextlib.suppress(OSError):  # closed: recv sees it next round
                    sock.send(b"a")
    selector.close()
    return list(still)


def closed_counts(srv: ServerProc) -> dict[str, float]:
    conn = http.client.HTTPConnection(*srv.http, timeout=20, source_address=(CLIENT, 0))
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'^homeport_http_connections_closed_total\{reason="(\w+)"\} (\S+)$', body, re.M
        )
    }


def test_silent_half_sent_and_trickling_clients_are_closed(
    guarded: tuple[ServerProc, str],
) -> None:
    srv, secret = guarded
    silent = [connect(srv, ATTACKER) for _ in range(60)]
    half = [connect(srv, ATTACKER_2, HALF_HEAD) for _ in range(60)]
    trickling = [connect(srv, ATTACKER_2, HALF_HEAD) for _ in range(10)]
    try:
        # While they are open, the API answers a real client.
        assert update(srv, secret, "192.0.2.10") == (200, "good 192.0.2.10")
        # The tricklers send a byte every half second: it does not buy them time.
        assert wait_closed(trickling, trickle=True) == []
        assert wait_closed(silent + half) == []
    finally:
        for sock in silent + half + trickling:
            sock.close()
    assert closed_counts(srv).get("request_timeout", 0) >= 130
    assert update(srv, secret, "192.0.2.11") == (200, "good 192.0.2.11")
    assert srv.dig(HOST) == ["192.0.2.11"]


def test_idle_keep_alive_connection_is_closed(guarded: tuple[ServerProc, str]) -> None:
    """After a response, the next request must come within the deadline too."""
    srv, _ = guarded
    sock = connect(srv, ATTACKER, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        head = b""
        while b"ok\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 200")
        assert b"Connection: close" not in head  # kept alive ...
        sock.sendall(HALF_HEAD)  # ... and then a head that never ends
        assert wait_closed([sock]) == []
    finally:
        sock.close()


def test_connections_per_source_are_capped(capped: tuple[ServerProc, str]) -> None:
    srv, secret = capped
    held = [connect(srv, ATTACKER) for _ in range(8)]
    extra: list[socket.socket] = []
    try:
        # The 9th and later from that source are refused at once (reset) ...
        extra = [connect(srv, ATTACKER) for _ in range(200)]
        assert wait_closed(extra) == []
        # ... while another source is served, the cap's eight still holding theirs.
        assert update(srv, secret, "192.0.2.20") == (200, "good 192.0.2.20")
        assert closed_counts(srv).get("per_source", 0) >= 200
        # When the deadline frees the eight, that source is served again.
        assert wait_closed(held) == []
        assert update(srv, secret, "192.0.2.21", source=ATTACKER) == (200, "good 192.0.2.21")
    finally:
        for sock in held + extra:
            sock.close()


def test_trusted_proxy_is_not_capped(capped: tuple[ServerProc, str]) -> None:
    """Every client behind a trusted proxy shares its address: no cap for it."""
    srv, secret = capped
    proxy = "127.0.0.4"
    held = [connect(srv, proxy) for _ in range(12)]
    try:
        status, body = update(srv, secret, "192.0.2.30", source=proxy)
    finally:
        for sock in held:
            sock.close()
    assert (status, body) == (200, "good 192.0.2.30")


def test_stalled_tls_handshake_is_closed(tmp_path: Path) -> None:
    """On an HTTPS listener a client that never says hello is closed by the same deadline."""
    from tests.server.test_probe import make_cert

    cert, key = make_cert(tmp_path, "localhost")
    data = tmp_path / "data"
    config = tmp_path / "server.toml"
    config.write_text(
        f'[server]\nhttps = ["127.0.0.1:0"]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        f"[limits]\nhttp_request_timeout = {REQUEST_TIMEOUT}\n"
    )
    srv = start_server(data, "--config", str(config))
    socks: list[socket.socket] = []
    try:
        ready = next(line for line in srv.output if line.startswith("ready "))
        host, port = ready.split('"https": ["', 1)[1].split('"', 1)[0].rsplit(":", 1)
        for source, first in ((ATTACKER, b""), (ATTACKER_2, b"\x16\x03\x01\x00")):
            sock = socket.socket()
            socks.append(sock)
            sock.bind((source, 0))
            sock.connect((host, int(port)))
            sock.sendall(first)
        # asyncio's own handshake timeout is 60 s: waiting half of it tells them apart.
        assert wait_closed(socks, limit=30) == []
    finally:
        for sock in socks:
            sock.close()
        stop_server(srv)
