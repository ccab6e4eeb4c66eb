"""The tunnel end to end: `homeport server` with [relay] and `homeport tunnel` as processes.

Everything on loopback: the relay's control port, its public HTTP port (routed by Host),
the home service. The relay's public_ipv4 is 127.0.0.1 so visitors can follow DNS.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agent.tunnel_helpers import (
    PAGE,
    LocalService,
    TunnelProc,
    local_service,
    start_tunnel,
    visit,
    visit_raw,
    wait_until,
)
from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server

ZONE = "dyn.example.net"
HOST = f"myhome.{ZONE}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Relay:
    data: Path
    config: Path
    control: int
    http: int
    secret: str
    fingerprint: str
    server: ServerProc | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.control}"

    def start(self) -> ServerProc:
        self.server = start_server(self.data, "--config", str(self.config))
        return self.server

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.server is not None:
            stop_server(self.server, sig)
            self.server = None

    def hellos(self) -> int:
        """Hellos the relay refused or welcomed, from its log lines."""
        assert self.server is not None
        return sum(
            ("api=relay" in line or f"relay: {HOST}. up" in line or f"relay: {HOST} up" in line)
            for line in self.server.output
        )


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    data = tmp_path / "data"
    assert run_homeport("server", "zone", "add", ZONE, "--data", str(data)).returncode == 0
    added = run_homeport("server", "host", "add", HOST, "--data", str(data), "--json")
    assert added.returncode == 0, added.stderr
    secret = json.loads(added.stdout)["secret"]
    control, http = free_port(), free_port()
    config = tmp_path / "server.toml"
    config.write_text(
        "[limits]\nenabled = false\n"
        f'[relay]\nenabled = true\nlisten = "127.0.0.1:{control}"\npublic_ipv4 = "127.0.0.1"\n'
        f'bind = "127.0.0.1"\nhttp_ports = [{http}]\ntls_ports = []\n'
    )
    printed = run_homeport("server", "relay", "fingerprint", "--config", str(config),
                           "--data", str(data))  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    running = Relay(data, config, control, http, secret, printed.stdout.strip())
    running.start()
    try:
        yield running
    finally:
        running.stop(signal.SIGTERM)


@pytest.fixture
def service() -> Iterator[LocalService]:
    with local_service() as running:
        yield running


def tunnel_to(
    relay: Relay, service: LocalService, tmp_path: Path, secret: str | None = None
) -> TunnelProc:
    secret_file = tmp_path / "secret"
    secret_file.write_text((secret or relay.secret) + "\n")
    return start_tunnel(
        f"{HOST}:{relay.http}",
        "--relay", relay.address,
        "--local", f"127.0.0.1:{service.port}",
        "--secret-file", str(secret_file),
        "--fingerprint", relay.fingerprint,
    )  # fmt: skip


def test_a_visitor_reaches_the_home_service_by_name_through_the_relay(
    relay: Relay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path)
    try:
        ready = tunnel.wait_ready()
        assert ready["granted"] == [{"kind": "http", "port": relay.http, "public_port": relay.http}]
        assert visit(relay.http, HOST) == PAGE
        # While relayed, the server's DNS answers the relay's public address for the name.
        assert relay.server is not None
        wait_until(lambda: _answers(relay.server, ["127.0.0.1"]), 5.0, "A record -> relay")
        for _ in range(20):  # more visitors than spares, one after another
            assert visit(relay.http, HOST) == PAGE
    finally:
        assert tunnel.stop() == 0


def _answers(server: ServerProc | None, wanted: list[str]) -> None:
    assert server is not None
    assert server.dig(HOST) == wanted


def test_after_the_relay_is_killed_and_restarted_new_visitors_get_through(
    relay: Relay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path)
    try:
        tunnel.wait_ready()
        assert visit(relay.http, HOST) == PAGE
        relay.stop(signal.SIGKILL)
        relay.start()  # same data, same config, same ports
        wait_until(lambda: visit(relay.http, HOST), 5.0, "a visitor after the relay came back")
        assert tunnel.proc.poll() is None
    finally:
        assert tunnel.stop() == 0


def test_a_wrong_secret_is_one_line_exit_1_and_one_hello(
    relay: Relay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path, secret="not-the-secret")
    assert tunnel.proc.wait(30) == 1
    tunnel.stop()
    assert len(tunnel.stderr) == 1, tunnel.stderr
    assert tunnel.stderr[0].startswith("homeport: error: relay refused: badauth")
    assert "not-the-secret" not in tunnel.stderr[0]
    assert relay.server is not None
    refused = [line for line in relay.server.output if "not-the-secret" in line]
    assert refused == []
    wait_until(lambda: relay.hellos() or _fail(), 5.0, "the relay's auth failure line")
    assert relay.hellos() == 1, relay.server.output


def _fail() -> None:
    raise AssertionError


def test_the_tunnel_survives_the_home_service_being_down(
    relay: Relay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path)
    try:
        tunnel.wait_ready()
        assert visit(relay.http, HOST) == PAGE
        service.stop()
        for _ in range(3):
            answer = visit_raw(relay.http)
            assert b"hello from home" not in answer
        assert tunnel.proc.poll() is None
        service.start()  # same port
        assert visit(relay.http, HOST) == PAGE
        assert not any("down" in line for line in tunnel.stderr), tunnel.stderr
    finally:
        assert tunnel.stop() == 0
