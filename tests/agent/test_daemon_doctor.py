"""The daemon runs `homeport doctor` for its metrics: real agent, real server, real doctor.

Everything runs in a network namespace of the test's own with only ``lo`` up: it has
no default route, so no packet can go anywhere but loopback (the network rule). The
config has no ``[[mapping]]``, so the daemon runs the doctor with ``--no-router``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import HOMEPORT, ROOT, homeport_env, network_namespace, run_homeport
from tests.server.conftest import add_hosts

HOST = "doc.dyn.example.net"
PUBLISHED = "203.0.113.7"  # what the agent publishes (a static source: loopback is refused)
READY_TIMEOUT = 30


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace("hp-doc") as name:
        yield name


@dataclass
class Proc:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    first: dict[str, object] = field(default_factory=dict)
    pump: threading.Thread | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        if self.pump is not None:
            self.pump.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_in(
    netns: str, args: list[str], ready: str | None, env: dict[str, str] | None = None
) -> Proc:
    """Start ``args`` in ``netns``; wait for a stdout line starting with ``ready`` (if any)."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=homeport_env(env),
        start_new_session=True,
    )
    running = Proc(proc)
    seen = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            running.lines.append(line)
            if ready is not None and line.startswith(ready) and not seen.is_set():
                rest = line[len(ready) :].strip()
                running.first.update(json.loads(rest) if rest.startswith("{") else {})
                seen.set()
        seen.set()

    running.pump = threading.Thread(target=pump, daemon=True)
    running.pump.start()
    if ready is None:
        return running
    if not seen.wait(READY_TIMEOUT) or proc.poll() is not None:
        running.stop()
        raise AssertionError(f"{args[2:4]} did not start:\n" + "".join(running.lines))
    return running


def start_service(netns: str, host: str) -> tuple[Proc, int]:
    """A TCP listener on ``host`` in ``netns`` (the service the doctor looks for), and its
    port; it lives until stopped."""
    code = (
        "import socket, sys, time; s = socket.create_server((sys.argv[1], 0), "
        "family=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET); "
        "print('port', s.getsockname()[1], flush=True); time.sleep(600)"
    )
    service = start_in(netns, [sys.executable, "-c", code, host], "port ")
    return service, int(service.lines[0].split()[1])


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what}: not reached in {seconds} s")


def get_in(netns: str, url: str) -> str:
    code = (
        "import sys, urllib.request; "
        "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
    )
    result = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code, url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def test_daemon_exports_the_doctors_verdicts(tmp_path: Path, netns: str) -> None:
    # The network rule, checked: no default route, so only loopback can be reached, and
    # the doctor's router hop (which would ask the gateway) has nobody to ask anyway.
    assert _ip("-n", netns, "-4", "route", "show", "default").strip() == ""
    assert _ip("-n", netns, "-6", "route", "show", "default").strip() == ""

    data = tmp_path / "data"
    # The zone's name server is the server itself on loopback: the doctor asks only it.
    zone = run_homeport(
        "server", "zone", "add", "dyn.example.net", "--ns", "ns1.dyn.example.net=127.0.0.1",
        "--data", str(data),
    )  # fmt: skip
    assert zone.returncode == 0, zone.stderr
    secret = add_hosts(data, [HOST])[HOST]
    procs: list[Proc] = []
    try:
        # The probe connects back to 127.0.0.1: a lab network, never allowed by default.
        server_config = tmp_path / "server.toml"
        server_config.write_text('[probe]\nlab_networks = ["127.0.0.0/8"]\n')
        server = start_in(
            netns,
            [*HOMEPORT, "server", "run", "--data", str(data), "--limits", "off",
             "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--config", str(server_config)],
            "ready ",
        )  # fmt: skip
        procs.append(server)
        http = str(server.first["http"][0])  # type: ignore[index]
        dns = str(server.first["dns"][0])  # type: ignore[index]
        assert http.startswith("127.0.0.1:")
        assert dns.startswith("127.0.0.1:")
        # The local service the doctor looks for, advertised by the agent.
        service, port = start_service(netns, "0.0.0.0")
        procs.append(service)
        # The namespace is ours alone; below the ephemeral range (32768+) the servers use.
        metrics_port = 20000 + secrets.randbelow(12000)
        config = tmp_path / "agent.toml"
        config.write_text(
            f"""
[agent]
interval = "1h"
netlink = false
[[ipv4.source]]
type = "static"
address = "{PUBLISHED}"
[[provider]]
protocol = "homeport"
hosts = ["{HOST}"]
server = "http://{http}"
login = "{HOST}"
password_env = "DOC_SECRET"
[hooks]
advertise_ports = [{port}]
[metrics]
listen = "127.0.0.1:{metrics_port}"
doctor = "1m"
doctor_dns = "{dns}"
"""
        )
        started = time.time()
        agent = start_in(
            netns,
            [*HOMEPORT, "agent", "run", "--config", str(config),
             "--state-dir", str(tmp_path / "state")],
            None,  # ready when its metrics endpoint answers, below
            env={"DOC_SECRET": secret},
        )  # fmt: skip
        procs.append(agent)

        metrics_url = f"http://127.0.0.1:{metrics_port}"
        scraped: list[str] = []

        def doctor_done() -> bool:
            try:
                scraped.append(get_in(netns, metrics_url + "/metrics"))
            except subprocess.CalledProcessError:
                return False  # not listening yet
            return "homeport_doctor_worst" in scraped[-1]

        # The first run comes right after the first cycle, not a `doctor` interval later.
        wait_for(doctor_done, 50, "the first doctor run")
        text = scraped[-1]
        values = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("homeport_doctor")
        }
        # Listens on 0.0.0.0 inside the namespace: ok.
        assert values[f'homeport_doctor_verdict{{hop="listening",subject="port {port}"}}'] == 0
        # No [[mapping]]: the daemon asked for --no-router, nothing went to a gateway.
        assert values['homeport_doctor_verdict{hop="router",subject=""}'] == -1
        # The server's probe connected back to 127.0.0.1 (the requester) on the port.
        assert values[f'homeport_doctor_verdict{{hop="reachable",subject="port {port} IPv4"}}'] == 0
        # The agent published 203.0.113.7 (it refuses loopback), but the server sees us at
        # 127.0.0.1: the authoritative answer is not our public address, a true fail.
        assert values[f'homeport_doctor_verdict{{hop="dns",subject="{HOST} A"}}'] == 2
        # No default route: no LAN address, also a fail (true in this namespace).
        assert values['homeport_doctor_verdict{hop="lan-address",subject=""}'] == 2
        assert values["homeport_doctor_worst"] == 2
        ran_at = values["homeport_doctor_last_run_timestamp_seconds"]
        assert started - 1 <= ran_at <= time.time() + 1

        status = json.loads(get_in(netns, metrics_url + "/status"))
        doctor = status["doctor"]
        assert doctor["verdict"] == "fail"
        assert doctor["exit_code"] == 2
        assert "error" not in doctor
        hops = {(c["hop"], c["subject"]): c for c in doctor["checks"]}
        assert "--no-router" in hops[("router", "")]["evidence"]
        assert f"{PUBLISHED}" in hops[("dns", f"{HOST} A")]["evidence"]
        # Asked at the loopback server's own DNS port (--dns from doctor_dns), nowhere else.
        assert (
            f"should be 127.0.0.1: {dns} says {PUBLISHED}" in hops[("dns", f"{HOST} A")]["evidence"]
        )
        assert secret not in json.dumps(status) + text

        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(30) == 0
    finally:
        for proc in reversed(procs):
            proc.stop()
    output = "".join(agent.lines)
    assert "Traceback" not in output
    assert secret not in output
    assert "homeport doctor: fail" in output  # the change of verdict is logged once
