"""POST /probe: the server connects back to the requester only, TCP/HTTP/TLS, rate-limited."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server

HOST = "probe.dyn.example.net"


def post_probe(
    srv: ServerProc,
    body: object,
    auth: tuple[str, str] | None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, object]]:
    import base64

    sent = {"Content-Type": "application/json", **(headers or {})}
    if auth:
        sent["Authorization"] = (
            "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        )
    conn = http.client.HTTPConnection(*srv.http, timeout=20)
    try:
        conn.request("POST", "/probe", body=json.dumps(body), headers=sent)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


class Listener:
    """A loopback TCP (optionally TLS, optionally HTTP) server in a thread."""

    def __init__(self, context: ssl.SSLContext | None = None, http: bool = False) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.context = context
        self.http = http
        self.received: list[bytes] = []  # what each HTTP request brought, as it came
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                if self.context is not None:
                    conn = self.context.wrap_socket(conn, server_side=True)
                if self.http:
                    self.received.append(recv_head(conn))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nServer: tiny\r\nContent-Length: 2\r\n\r\nhi")
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


def recv_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# The loopback tests' lab: without it the probe refuses to connect to 127.0.0.1.
LAB_CONFIG = '[probe]\nlab_networks = ["127.0.0.0/8"]\n'


def make_cert(tmp_path: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "10",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def probe_server(tmp_path: Path) -> Iterator[tuple[ServerProc, str, Path, Path]]:
    data = tmp_path / "data"
    cert, key = make_cert(tmp_path, HOST)
    config = tmp_path / "server.toml"
    config.write_text(
        f'{LAB_CONFIG}extra_ca_file = "{cert}"\ntimeout = 2\n[limits]\nenabled = false\n'
    )
    assert (
        run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data)).returncode
        == 0
    )
    secret = add_hosts(data, [HOST])[HOST]
    srv = start_server(data, "--config", str(config))
    try:
        yield srv, secret, cert, key
    finally:
        stop_server(srv)


def test_tcp_open_and_closed(probe_server: tuple[ServerProc, str, Path, Path]) -> None:
    srv, secret, _, _ = probe_server
    listener = Listener()
    try:
        status, result = post_probe(srv, {"port": listener.port}, (HOST, secret))
        assert status == 200
        assert result["reachable"] is True
        assert result["target"] == "127.0.0.1"
        assert isinstance(result["connect_ms"], float)
    finally:
        listener.close()
    status, result = post_probe(srv, {"port": listener.port}, (HOST, secret))
    assert (status, result["reachable"], result["error"]) == (200, False, "refused")


def test_http_check(probe_server: tuple[ServerProc, str, Path, Path]) -> None:
    srv, secret, _, _ = probe_server
    listener = Listener(http=True)
    try:
        _, result = post_probe(srv, {"port": listener.port, "check": "http"}, (HOST, secret))
    finally:
        listener.close()
    assert (result["http_status"], result["http_server"]) == (200, "tiny")


def test_tls_check_reports_names_and_expiry(
    probe_server: tuple[ServerProc, str, Path, Path],
) -> None:
    srv, secret, cert, key = probe_server
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = Listener(context=context)
    try:
        _, result = post_probe(srv, {"port": listener.port, "check": "tls"}, (HOST, secret))
        tls = result["tls"]
        assert isinstance(tls, dict)
        assert tls["names"] == [HOST]
        assert tls["verified"] is True
        assert 9 < tls["days_left"] <= 10
        # A name the certificate does not cover fails verification, and says so.
        _, result = post_probe(
            srv,
            {"port": listener.port, "check": "tls", "server_name": "other.example"},
            (HOST, secret),
        )
        assert result["tls"] == {"verified": False}
        assert "other.example" in str(result["error"])
    finally:
        listener.close()


def test_probe_only_targets_the_requester(probe_server: tuple[ServerProc, str, Path, Path]) -> None:
    srv, secret, _, _ = probe_server
    listener = Listener()
    try:
        status, result = post_probe(
            srv,
            {"port": listener.port, "target": "192.0.2.1", "host": "192.0.2.1"},
            (HOST, secret),
            headers={"X-Forwarded-For": "192.0.2.1"},  # not from a trusted proxy: ignored
        )
    finally:
        listener.close()
    assert status == 200
    assert result["target"] == "127.0.0.1"


def test_auth_and_bad_bodies(probe_server: tuple[ServerProc, str, Path, Path]) -> None:
    srv, secret, _, _ = probe_server
    assert post_probe(srv, {"port": 80}, (HOST, "wrong"))[0] == 401
    assert post_probe(srv, {"port": 80}, None)[0] == 401
    for body in (
        {"port": 0},
        {"port": "80"},
        {"port": 80, "check": "udp"},
        [],
        {"port": 80, "path": "x"},
    ):
        status, result = post_probe(srv, body, (HOST, secret))
        assert status == 400, body
        assert "error" in result


def test_probe_is_rate_limited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "server.toml"
    config.write_text(LAB_CONFIG)
    assert (
        run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data)).returncode
        == 0
    )
    srv = start_server(data, "--config", str(config))  # default limits
    listener = Listener()
    try:
        secret = srv.add_host(HOST)
        statuses = [post_probe(srv, {"port": listener.port}, (HOST, secret))[0] for _ in range(8)]
    finally:
        listener.close()
        stop_server(srv)
    assert statuses[:6] == [200] * 6
    assert statuses[-1] == 429
