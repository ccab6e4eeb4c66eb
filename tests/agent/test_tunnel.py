"""The tunnel end to end: `homeport server` with [relay] and `homeport tunnel` as processes.

Everything on loopback: the relay's control port, its public HTTP port (routed by Host),
the home service. The relay's public_ipv4 is 127.0.0.1 so visitors can follow DNS.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import socketserver
import threading
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
    tcp: int = 0  # the one raw TCP port the relay may hand out
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
    # The zone's name server is the server itself on loopback: the doctor asks only it.
    zone = run_homeport(
        "server", "zone", "add", ZONE, "--ns", f"ns1.{ZONE}=127.0.0.1", "--data", str(data)
    )
    assert zone.returncode == 0, zone.stderr
    added = run_homeport("server", "host", "add", HOST, "--data", str(data), "--json")
    assert added.returncode == 0, added.stderr
    secret = json.loads(added.stdout)["secret"]
    control, http, tcp = free_port(), free_port(), free_port()
    config = tmp_path / "server.toml"
    config.write_text(
        "[limits]\nenabled = false\n"
        f'[relay]\nenabled = true\nlisten = "127.0.0.1:{control}"\npublic_ipv4 = "127.0.0.1"\n'
        f'bind = "127.0.0.1"\nhttp_ports = [{http}]\ntls_ports = []\ntcp_ports = "{tcp}-{tcp}"\n'
    )
    printed = run_homeport("server", "relay", "fingerprint", "--config", str(config),
                           "--data", str(data))  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    running = Relay(data, config, control, http, secret, printed.stdout.strip(), tcp)
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
        try:
            wait_until(lambda: visit(relay.http, HOST), 5.0, "a visitor after the relay came back")
        except AssertionError as exc:
            tunnel.stop()
            assert relay.server is not None
            raise AssertionError("".join(tunnel.stderr + relay.server.output)) from exc
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


# --- the agent daemon with [[tunnel]] -----------------------------------------------------


def agent_config(
    tmp_path: Path, relay: Relay, service: LocalService, metrics: int, secret: str
) -> Path:
    """An agent that updates HOST at the relay's own server (a static address, data only)
    and keeps its tunnel; the tunnel's secret is the homeport provider's password."""
    assert relay.server is not None
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n'
        '[[ipv4.source]]\ntype = "static"\naddress = "192.0.2.10"\n'
        f'[[provider]]\nprotocol = "homeport"\nserver = "{relay.server.url}"\n'
        f'login = "{HOST}"\npassword = "{secret}"\nhosts = ["{HOST}"]\nipv6 = false\n'
        f'[[tunnel]]\nrelay = "{relay.address}"\nhost = "{HOST}"\n'
        f'fingerprint = "{relay.fingerprint}"\nlocal = "127.0.0.1:{service.port}"\n'
        f'kind = "http"\nport = {relay.http}\n'
    )
    return config


def _tunnel_state(tmp_path: Path) -> str:
    result = run_homeport("agent", "status", "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("tunnel ")]
    assert len(lines) == 1, result.stdout
    return lines[0]


def test_the_agent_daemon_keeps_its_tunnel_and_reports_it(
    relay: Relay, service: LocalService, tmp_path: Path
) -> None:
    import urllib.request

    from tests.agent.test_daemon import running_agent

    metrics = free_port()
    config = agent_config(tmp_path, relay, service, metrics, relay.secret)
    with running_agent(config, tmp_path / "agent.log") as agent:
        wait_until(lambda: _assert_in("up since", _tunnel_state(tmp_path)), 30.0, "tunnel up")
        assert f"public port {relay.http}" in _tunnel_state(tmp_path)
        assert visit(relay.http, HOST) == PAGE
        url = f"http://127.0.0.1:{metrics}/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        assert f'homeport_tunnel_up{{host="{HOST}",kind="http",port="{relay.http}"}} 1' in text
        # The relay restarts: the daemon's tunnel comes back by itself.
        relay.stop(signal.SIGKILL)
        relay.start()
        wait_until(lambda: visit(relay.http, HOST), 5.0, "a visitor after the relay came back")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
    assert relay.secret not in (tmp_path / "agent.log").read_text()


def _assert_in(part: str, whole: str) -> None:
    assert part in whole, whole


def test_a_refused_agent_tunnel_stops_once_and_a_reload_with_the_right_secret_starts_it(
    relay: Relay, service: LocalService, tmp_path: Path
) -> None:
    from tests.agent.test_daemon import running_agent

    config = agent_config(tmp_path, relay, service, free_port(), "not-the-secret")
    log = tmp_path / "agent.log"
    with running_agent(config, log) as agent:
        wait_until(lambda: _assert_in("STOPPED", _tunnel_state(tmp_path)), 30.0, "stopped")
        assert "badauth" in _tunnel_state(tmp_path)
        assert agent.poll() is None  # the daemon lives on: its other work goes on
        # One hello, not a retry storm (the relay logs each refused one).
        wait_until(lambda: relay.hellos() or _fail(), 5.0, "the relay's failure line")
        assert relay.hellos() == 1
        assert sum("stopped: relay refused" in line for line in log.read_text().splitlines()) == 1
        config.write_text(config.read_text().replace("not-the-secret", relay.secret))
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: _assert_in("up since", _tunnel_state(tmp_path)), 30.0, "tunnel up")
        assert visit(relay.http, HOST) == PAGE
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
    assert "not-the-secret" not in log.read_text()


def _relay_check(config: Path, relay: Relay, *, relayed: bool = True) -> dict[str, object]:
    assert relay.server is not None
    dns = f"{relay.server.dns[0]}:{relay.server.dns[1]}"
    result = run_homeport("doctor", "--config", str(config), "--json", "--no-router", "--dns", dns)
    assert result.returncode in (0, 1, 2), result.stderr
    checks = json.loads(result.stdout)["checks"]
    (check,) = [c for c in checks if c["hop"] == "relay"]
    dns_a = [c for c in checks if c["hop"] == "dns" and c["subject"] == f"{HOST} A"]
    if relayed:  # the name points at the relay, and that is right
        assert dns_a[0]["verdict"] == "ok", dns_a
    assert isinstance(check, dict)
    return check


def test_the_doctor_reports_the_relay_hop_end_to_end(
    relay: Relay, service: LocalService, tmp_path: Path
) -> None:
    from tests.agent.test_daemon import running_agent

    config = agent_config(tmp_path, relay, service, free_port(), relay.secret)
    with running_agent(config, tmp_path / "agent.log") as agent:
        wait_until(lambda: _assert_in("up since", _tunnel_state(tmp_path)), 30.0, "tunnel up")
        check = _relay_check(config, relay)
        assert check["verdict"] == "ok", check
        assert f"reachable via relay {relay.address} (session up since" in str(check["evidence"])
        assert f"127.0.0.1:{relay.http} answered" in str(check["evidence"])
        service.stop()  # the tunnel is up, the service at home is not
        check = _relay_check(config, relay)
        assert check["verdict"] == "fail", check
        assert f"start it on 127.0.0.1:{service.port}" in str(check["fix"])
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
    # No agent runs the tunnel now.
    assert _relay_check(config, relay, relayed=False)["verdict"] == "warn"


@contextlib.contextmanager
def echo_service() -> Iterator[int]:
    """A TCP echo service at home: its port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1 << 20):
            self.request.sendall(data)


def _echoed(port: int, payload: bytes) -> str:
    """Send ``payload`` through the relay while reading it back: the sha256 of what came."""
    digest = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        got = 0
        while got < len(payload):
            chunk = sock.recv(1 << 20)
            assert chunk, f"closed after {got} of {len(payload)} bytes"
            digest.update(chunk)
            got += len(chunk)
        sender.join()
    return digest.hexdigest()


def test_a_raw_tcp_tunnel_carries_bytes_intact_both_ways_per_visitor(
    relay: Relay, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(relay.secret)
    with echo_service() as echo:
        tunnel = start_tunnel(
            f"{HOST}:0", "--kind", "tcp", "--relay", relay.address,
            "--local", f"127.0.0.1:{echo}", "--secret-file", str(secret_file),
            "--fingerprint", relay.fingerprint,
        )  # fmt: skip
        try:
            ready = tunnel.wait_ready()
            assert ready["granted"] == [{"kind": "tcp", "port": 0, "public_port": relay.tcp}]
            payloads = [os.urandom(8 << 20), os.urandom(8 << 20)]
            results: list[str] = ["", ""]

            def visit_with(index: int) -> None:
                results[index] = _echoed(relay.tcp, payloads[index])

            visitors = [threading.Thread(target=visit_with, args=(i,)) for i in range(2)]
            for visitor in visitors:
                visitor.start()
            for visitor in visitors:
                visitor.join(120)
            # Each visitor got its own bytes back, whole: nothing corrupted or crossed.
            assert results == [hashlib.sha256(p).hexdigest() for p in payloads]
        finally:
            assert tunnel.stop() == 0


def test_a_service_that_speaks_first_is_heard_whole(relay: Relay, tmp_path: Path) -> None:
    """A banner (SSH, SMTP) or a download sent the moment the visitor is connected: the
    bytes the service sends before the visitor says anything all arrive, then its close."""
    payload = os.urandom(4 << 20)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _speaker(payload))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret_file = tmp_path / "secret"
    secret_file.write_text(relay.secret)
    tunnel = start_tunnel(
        f"{HOST}:0", "--kind", "tcp", "--relay", relay.address,
        "--local", f"127.0.0.1:{server.server_address[1]}", "--secret-file", str(secret_file),
        "--fingerprint", relay.fingerprint,
    )  # fmt: skip
    try:
        tunnel.wait_ready()
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", relay.tcp), timeout=30) as sock:
                got = bytearray()
                while chunk := sock.recv(1 << 20):
                    got += chunk
            assert hashlib.sha256(got).hexdigest() == hashlib.sha256(payload).hexdigest(), len(got)
    finally:
        assert tunnel.stop() == 0
        server.shutdown()
        server.server_close()


def _speaker(payload: bytes) -> type[socketserver.BaseRequestHandler]:
    class Speaker(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(payload)

    return Speaker
