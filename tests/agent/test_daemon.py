"""The daemon as a real process: sd_notify READY, metrics, SIGHUP reload, SIGTERM exit, netlink."""

from __future__ import annotations

import contextlib
import json
import re
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


@contextlib.contextmanager
def running_agent(
    config: Path,
    log: Path,
    *args: str,
    netns: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``homeport agent run --config CONFIG ARGS`` (inside ``netns`` if given), its stderr in
    ``log``; killed on the way out if the test left it running."""
    inside = ["ip", "netns", "exec", netns] if netns else []
    command = [*inside, sys.executable, "-m", "homeport", "agent", "run", "--config", str(config)]
    with log.open("w") as err:
        process = subprocess.Popen(
            [*command, *args],
            cwd=ROOT,
            env=homeport_env(env),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@contextlib.contextmanager
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET, and its path."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(30)
        yield sock, str(path)


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
    metrics_port = free_port()
    config = tmp_path / "agent.toml"
    config.write_text(config_text(services, ["a.example.org"], metrics_port))
    log = tmp_path / "agent.log"
    state = ("--state-dir", str(tmp_path / "state"))
    with (
        notify_socket(tmp_path) as (notify, path),
        running_agent(
            config, log, *state, env={"NOTIFY_SOCKET": path, "INVOCATION_ID": "test"}
        ) as process,
    ):
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
        wait_for(lambda: "reload failed; keeping the running config" in log.read_text())
        assert process.poll() is None
        # A good one is applied: the new host is sent once, the old one not again.
        config.write_text(config_text(services, ["a.example.org", "b.example.org"], metrics_port))
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(services.updates) == 2)
        assert services.updates[1].hostnames == "b.example.org"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    stderr = log.read_text()
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
    """In a namespace of our own: a burst of address changes wakes the agent long before its
    interval, once for the whole burst."""
    counter = tmp_path / "cycles"
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
interval = "1h"
debounce = "1s"
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
    log = tmp_path / "agent.log"
    state = ("--state-dir", str(tmp_path / "state"))
    with (
        notify_socket(tmp_path) as (notify, path),
        running_agent(config, log, *state, netns=netns, env={"NOTIFY_SOCKET": path}) as process,
    ):
        # READY=1 follows the first cycle and the opening of the netlink socket.
        assert "READY=1" in notify.recv(4096).decode()
        assert counter.read_text().count("x") == 1
        # The idle parent stays small: the config model, asyncio and TLS live in the cycle's child.
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "pydantic_core" not in maps
        assert "_ssl" not in maps
        assert "_asyncio" not in maps
        # A burst of changes, milliseconds apart from one `ip -batch`: debounced into one look.
        burst = "".join(f"addr add 192.0.2.{10 + index}/24 dev lo\n" for index in range(3))
        subprocess.run(
            ["ip", "-n", netns, "-batch", "-"],
            input=burst,
            text=True,
            check=True,
            capture_output=True,
        )
        wait_for(lambda: counter.read_text().count("x") == 2)
        # Had the burst asked for a second cycle, its events would be read from the netlink
        # socket by the time the loop handles this SIGHUP (one select watches both, and
        # netlink is drained before signals act), logging "looking again" a second time.
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in log.read_text())
        assert log.read_text().count("local address change: looking again shortly") == 1
        assert counter.read_text().count("x") == 3  # the reload's own cycle, and no other
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert process.returncode == 0, log.read_text()


def test_watchdog_pings_and_stopping(tmp_path: Path) -> None:
    """WATCHDOG=1 while a slow cycle runs (before READY=1 here) and while idle after it, then
    STOPPING=1. The first cycle takes over a second on purpose: a loaded machine made it
    that slow by chance, and the pings it earned once broke an exact message sequence."""
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
state_dir = "{tmp_path / "from-config"}"
[[ipv4.source]]
type = "cmd"
command = "sleep 1.5; echo 203.0.113.8"
[[provider]]
protocol = "dyndns2"
hosts = ["a.example.org"]
server = "127.0.0.1:9"
ssl = false
login = "me"
password = "pw"
"""
    )
    log = tmp_path / "agent.log"
    with (
        notify_socket(tmp_path) as (notify, path),
        running_agent(
            config, log, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
        ) as process,
    ):
        before_ready = []
        while "READY=1" not in (message := notify.recv(4096).decode()):
            before_ready.append(message)
        # The cycle's child ran 1.5 s: pinged at least once meanwhile, and nothing else.
        assert before_ready
        assert set(before_ready) == {"WATCHDOG=1"}
        assert [notify.recv(4096).decode() for _ in range(3)] == ["WATCHDOG=1"] * 3
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        while (message := notify.recv(4096).decode()) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"
    assert process.returncode == 0, log.read_text()
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
    log = tmp_path / "agent.log"
    with running_agent(config, log, "--state-dir", str(tmp_path / "state")) as process:
        wait_for(started.exists)
        begun = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        assert time.monotonic() - begun < 15  # not after the 30 s command
    assert process.returncode == 0
    assert "Traceback" not in log.read_text()
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
    stops it when the entries are gone, and its own parent stays lean all along.

    The update to port 9 fails, so the host is retried every few seconds: cycles on the
    daemon's own timer, each stamping the time it ran, mark time passing in the daemon."""
    config = tmp_path / "agent.toml"
    stamps = tmp_path / "cycles"
    base = f"""
[agent]
interval = "1h"
retry_min = "2s"
retry_max = "3s"
netlink = false
[[ipv4.source]]
type = "cmd"
command = "date +%s.%N >> {stamps}; echo 203.0.113.5"
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
    state = ("--state-dir", str(tmp_path / "s"))
    with running_agent(config, log, "-v", *state, netns=netns) as process:
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
        reloaded = time.time()
        text = log.read_text()
        started = text.count("mapping keeper started")
        # A restart still pending when the entries went away would be due at most the
        # longest backoff logged so far after the reload. Two cycles stamped past that: the
        # second was forked after the first ended, by a loop that checks for a due restart
        # before it forks a cycle.
        longest = max(int(n) for n in re.findall(r"starting it again in (\d+) s", text))
        wait_for(lambda: _stamped_after(stamps, reloaded + longest) >= 2, 60)
        assert log.read_text().count("mapping keeper started") == started
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()


def _stamped_after(stamps: Path, moment: float) -> int:
    return sum(float(stamp) > moment for stamp in stamps.read_text().split())
