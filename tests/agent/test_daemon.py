"""The daemon as a real process: sd_notify READY, metrics, SIGHUP reload, SIGTERM exit, netlink."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.servers import LocalServices, serve
from tests.helpers import ROOT, homeport_env, network_namespace


@pytest.fixture
def services() -> Iterator[LocalServices]:
    with serve(LocalServices()) as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def config_text(services: LocalServices, hosts: list[str], metrics_port: int) -> str:
    return f"""
[agent]
interval = "30s"
[[ipv4.source]]
type = "web"
url = "{services.base}/plain"
[[provider]]
protocol = "dyndns2"
hosts = {json.dumps(hosts)}
server = "127.0.0.1:{services.port}"
ssl = false
login = "me"
password = "pw"
[metrics]
listen = "127.0.0.1:{metrics_port}"
"""


def test_daemon_ready_metrics_reload_and_clean_exit(
    tmp_path: Path, services: LocalServices
) -> None:
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(30)
    metrics_port = free_port()
    config = tmp_path / "agent.toml"
    config.write_text(config_text(services, ["a.example.org"], metrics_port))
    env = homeport_env({"NOTIFY_SOCKET": str(notify_path), "INVOCATION_ID": "test"})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homeport",
            "agent",
            "run",
            "--config",
            str(config),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        message = notify.recv(4096).decode()
        assert "READY=1" in message
        assert "STATUS=IPv4 203.0.113.10" in message
        assert len(services.updates) == 1

        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        assert 'homeport_host_stopped{host="a.example.org",code=""} 0' in metrics
        assert 'homeport_public_address_known{family="4"} 1' in metrics
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/status", timeout=10) as r:
            status = json.loads(r.read())
        assert status["detection"]["ipv4"]["address"] == "203.0.113.10"
        assert "pw" not in json.dumps(status["hosts"])

        # A broken config on SIGHUP is reported and the running one kept.
        config.write_text("[agent]\ninterval = 1\n")
        process.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert process.poll() is None
        # A good one is applied: the new host is sent once, the old one not again.
        config.write_text(config_text(services, ["a.example.org", "b.example.org"], metrics_port))
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(services.updates) == 2)
        assert services.updates[1].hostnames == "b.example.org"

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        notify.close()
    assert "Traceback" not in stderr
    assert "<3>reload: " in stderr  # journald priority prefix, no timestamp
    assert "must be at least 30 seconds" in stderr
    assert "<6>stopped" in stderr
    assert len(services.updates) == 2


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace("hp-agent") as name:
        yield name


def test_netlink_address_change_triggers_a_cycle(tmp_path: Path, netns: str) -> None:
    """In a namespace of our own: adding an address wakes the agent long before its interval."""
    counter = tmp_path / "cycles"
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
interval = "1h"
debounce = "0.3s"
event_gap = 0
[[ipv4.source]]
type = "cmd"
command = "echo x >> {counter}; echo 203.0.113.5"
[[provider]]
protocol = "dyndns2"
hosts = ["a.example.org"]
server = "127.0.0.1:9"
ssl = false
login = "me"
password = "pw"
"""
    )
    _ip("-n", netns, "link", "set", "lo", "up")
    process = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            netns,
            sys.executable,
            "-m",
            "homeport",
            "agent",
            "run",
            "--config",
            str(config),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=ROOT,
        env=homeport_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: counter.exists() and counter.read_text().count("x") == 1)
        time.sleep(0.5)  # the first cycle is done (the update to port 9 fails fast)
        # The idle parent stays small: the config model, asyncio and TLS live in the cycle's child.
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "pydantic_core" not in maps
        assert "_ssl" not in maps
        assert "_asyncio" not in maps
        for index in range(3):  # a burst of changes: debounced into one look
            _ip("-n", netns, "addr", "add", f"192.0.2.{10 + index}/24", "dev", "lo")
        wait_for(lambda: counter.read_text().count("x") == 2)
        time.sleep(1.0)
        assert counter.read_text().count("x") == 2
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "local address change" in stderr
    assert process.returncode == 0


def test_watchdog_pings_and_stopping(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(20)
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
state_dir = "{tmp_path / "from-config"}"
[[ipv4.source]]
type = "static"
address = "203.0.113.8"
[[provider]]
protocol = "dyndns2"
hosts = ["a.example.org"]
server = "127.0.0.1:9"
ssl = false
login = "me"
password = "pw"
"""
    )
    env = homeport_env({"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "400000"})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homeport",
            "agent",
            "run",
            "--config",
            str(config),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        messages = [notify.recv(4096).decode() for _ in range(4)]
        assert "READY=1" in messages[0]
        assert messages[1:] == ["WATCHDOG=1"] * 3
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
        while (message := notify.recv(4096).decode()) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        notify.close()
    assert process.returncode == 0
    assert (tmp_path / "from-config" / "agent-state.json").exists()  # [agent] state_dir used


def test_sigterm_during_a_slow_first_cycle_stops_at_once(tmp_path: Path) -> None:
    started = tmp_path / "started"
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
timeout = "60s"
[[ipv4.source]]
type = "cmd"
command = "touch {started}; sleep 30; echo 203.0.113.5"
[[provider]]
protocol = "dyndns2"
hosts = ["a.example.org"]
server = "127.0.0.1:9"
ssl = false
login = "me"
password = "pw"
"""
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homeport",
            "agent",
            "run",
            "--config",
            str(config),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=ROOT,
        env=homeport_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(started.exists)
        begun = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert time.monotonic() - begun < 15  # not after the 30 s command
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in stderr
    wait_for(lambda: not _running_with(str(started)), 5)  # the cycle's command went with it


def _running_with(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(proc.name)
        except OSError:
            continue
    return found


def test_interface_source_reads_real_kernel_flags(tmp_path: Path, netns: str) -> None:
    """A deprecated address (preferred_lft 0) is never chosen; the stable one is, with a suffix."""
    _ip("-n", netns, "link", "add", "hp0", "type", "veth", "peer", "name", "hp1")
    _ip("-n", netns, "link", "set", "hp0", "up")
    _ip("-n", netns, "link", "set", "hp1", "up")
    _ip(
        "-n",
        netns,
        "-6",
        "addr",
        "add",
        "2001:db8:0:1::20/64",
        "dev",
        "hp0",
        "nodad",
        "preferred_lft",
        "0",
    )
    _ip(
        "-n", netns, "-6", "addr", "add", "2001:db8:0:1::10/64", "dev", "hp0", "nodad", "mngtmpaddr"
    )
    config = tmp_path / "ip.toml"
    config.write_text(
        """
[ipv4]
enabled = false
[ipv6]
require = 1
[[ipv6.source]]
type = "interface"
interface = "hp0"
label = "plain"
[[ipv6.source]]
type = "interface"
interface = "hp0"
suffix = "::abcd"
label = "suffixed"
"""
    )
    result = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            netns,
            sys.executable,
            "-m",
            "homeport",
            "ip",
            "--json",
            "--config",
            str(config),
        ],
        cwd=ROOT,
        env=homeport_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    (verdict,) = json.loads(result.stdout)
    answers = {a["source"]: a["address"] for a in verdict["answers"]}
    assert answers == {"plain": "2001:db8:0:1::10", "suffixed": "2001:db8:0:1::abcd"}
    assert (
        verdict["address"] is None
    )  # two different answers with require = 1: reported, not guessed
    assert result.returncode == 69


def test_mapping_keeper_restarts_with_backoff_and_follows_sighup(
    tmp_path: Path, netns: str
) -> None:
    """No default route in the namespace: the keeper child finds no router and exits; the
    daemon starts it again with backoff, restarts it when [[mapping]] changes on SIGHUP,
    stops it when the entries are gone, and its own parent stays lean all along."""
    config = tmp_path / "agent.toml"
    base = """
[agent]
interval = "1h"
netlink = false
[[ipv4.source]]
type = "static"
address = "203.0.113.5"
[[provider]]
protocol = "dyndns2"
hosts = ["a.example.org"]
server = "127.0.0.1:9"
ssl = false
login = "me"
password = "pw"
"""
    config.write_text(base + "[[mapping]]\ninternal_port = 8080\n")
    _ip("-n", netns, "link", "set", "lo", "up")
    log = tmp_path / "agent.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                netns,
                sys.executable,
                "-m",
                "homeport",
                "agent",
                "run",
                "-v",
                "--config",
                str(config),
                "--state-dir",
                str(tmp_path / "s"),
            ],
            cwd=ROOT,
            env=homeport_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_for(lambda: "starting it again in 2 s" in log.read_text())
        text = log.read_text()
        assert "no IPv4 default gateway" in text
        assert "exited with status 69; starting it again in 1 s" in text
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "_asyncio" not in maps
        assert "pydantic_core" not in maps
        config.write_text(base + "[[mapping]]\ninternal_port = 8081\n")
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: "[[mapping]] changed: restarting the mapping keeper" in log.read_text())
        wait_for(lambda: log.read_text().count("starting it again in 1 s") == 2)
        config.write_text(base)
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: log.read_text().count("config reloaded") == 2)
        started = log.read_text().count("mapping keeper started")
        time.sleep(3)  # a keeper still scheduled would have been started again by now
        assert log.read_text().count("mapping keeper started") == started
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()
