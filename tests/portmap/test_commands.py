"""`homeport map` as a user runs it: bad input and unreachable routers give one line, no traceback.

The "router" here is 127.0.0.1 with nothing listening (the network rule: loopback only); the
real router is in tests/lab/.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import HOMEPORT, ROOT, homeport_env, network_namespace, run_homeport

NOWHERE = ["--gateway", "127.0.0.1", "--upnp-url", "http://127.0.0.1:9/rootDesc.xml"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOMEPORT_STATE_DIR": str(tmp_path)}


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["map", "add", "0"], "EXTERNAL_PORT must be 1-65535"),
        (["map", "add", "80", "--internal-port", "70000"], "--internal-port must be"),
        (["map", "add", "80", "--lease", "-5"], "--lease"),
        (["map", "rm", "80", "--ipv6"], "no pinhole"),
        (["map", "status", "--gateway", "router.example"], "--gateway must be an IP address"),
    ],
)
def test_bad_input(args: list[str], needle: str, env: dict[str, str]) -> None:
    result = run_homeport(*args[:2], *NOWHERE, *args[2:], env=env)
    assert result.returncode == 64
    assert needle in _one_line_error(result.stderr)


def test_no_router_answers(env: dict[str, str]) -> None:
    result = run_homeport("map", "add", "8080", *NOWHERE, env=env)
    assert result.returncode == 69
    line = _one_line_error(result.stderr)
    assert "no port-mapping method answered" in line
    assert "pcp" in line
    assert "natpmp" in line


def test_status_without_router(env: dict[str, str]) -> None:
    result = run_homeport("map", "status", "--json", *NOWHERE, env=env)
    assert result.returncode == 69
    assert '"answered": false' in result.stdout
    _one_line_error(result.stderr)


def test_help_lists_subcommands() -> None:
    result = run_homeport("map", "--help")
    assert result.returncode == 0
    for name in ("add", "list", "rm", "status"):
        assert name in result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_pinhole_host_follows_the_agents_address_policy(tmp_path: Path) -> None:
    """A pinhole opens to the address the agent publishes (core.addrpolicy): never a ULA
    (the internet cannot route to it) nor a deprecated address. With only those, the
    command says so before it asks any router."""
    with network_namespace("hp-pin") as ns:
        for args in (
            ["link", "add", "hp0", "type", "veth", "peer", "name", "hp1"],
            ["link", "set", "hp0", "up"],
            ["-6", "addr", "add", "fd00:1::10/64", "dev", "hp0", "nodad"],
            ["-6", "addr", "add", "2001:db8:1::20/64", "dev", "hp0", "nodad", "preferred_lft", "0"],
        ):
            subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)
        result = subprocess.run(
            ["ip", "netns", "exec", ns, *HOMEPORT, "map", "add", "8080", "--ipv6", *NOWHERE],
            cwd=ROOT,
            env=homeport_env({"HOMEPORT_STATE_DIR": str(tmp_path)}),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 64, result.stderr
    assert "no stable global IPv6 address" in _one_line_error(result.stderr)
