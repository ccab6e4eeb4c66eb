"""Shared pieces of the tunnel tests: a local web service, visitors, `homeport tunnel` runs."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import HOMEPORT, homeport_env

PAGE = b"hello from home\n"
READY_TIMEOUT = 30.0


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class LocalService:
    """An HTTP server at home on a fixed loopback port; stop() and start() again."""

    port: int = 0
    server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> LocalService:
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Page)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@contextlib.contextmanager
def local_service() -> Iterator[LocalService]:
    service = LocalService().start()
    try:
        yield service
    finally:
        service.stop()


def visit(port: int, host: str = "myhome.example.net", timeout: float = 5.0) -> bytes:
    """GET / through the relay's public port; the body (raises on any failure)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body)
        return body
    finally:
        conn.close()


def visit_raw(port: int, timeout: float = 5.0) -> bytes:
    """Send a request head, read until the relay or the tunnel closes: what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: myhome.example.net\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def wait_until(check: Callable[[], object], limit: float, what: str) -> float:
    """Poll ``check`` until it returns without raising; the seconds it took."""
    start = time.monotonic()
    last: BaseException | None = None
    while time.monotonic() - start < limit:
        try:
            check()
            return time.monotonic() - start
        except (OSError, AssertionError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {limit} s (last: {last!r})")


@dataclass
class TunnelProc:
    proc: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    ready: dict[str, object] = field(default_factory=dict)
    _ready_event: threading.Event = field(default_factory=threading.Event)
    pumps: list[threading.Thread] = field(default_factory=list)

    def wait_ready(self, limit: float = READY_TIMEOUT) -> dict[str, object]:
        if not self._ready_event.wait(limit) or not self.ready:
            self.stop()
            raise AssertionError("tunnel not ready:\n" + "".join(self.stderr))
        return self.ready

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        for pump in self.pumps:
            pump.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return self.proc.returncode


def start_tunnel(*args: str, cwd: Path | None = None) -> TunnelProc:
    proc = subprocess.Popen(
        [*HOMEPORT, "tunnel", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=homeport_env(),
        start_new_session=True,
        cwd=cwd,
    )
    tunnel = TunnelProc(proc)

    def pump_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tunnel.stdout.append(line)
            if not tunnel.ready and line.startswith("{"):
                tunnel.ready.update(json.loads(line))
                tunnel._ready_event.set()
        tunnel._ready_event.set()

    def pump_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tunnel.stderr.append(line)

    tunnel.pumps = [
        threading.Thread(target=pump_out, daemon=True),
        threading.Thread(target=pump_err, daemon=True),
    ]
    for pump in tunnel.pumps:
        pump.start()
    return tunnel
