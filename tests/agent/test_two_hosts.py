"""Two hosts under one provider whose decisions differ, run as real processes.

`homeport agent run --once` against a real `homeport server run`: host ``a`` has
published its IPv4 address already, host ``b`` is new. In the next cycle ``a``
sends IPv6 only and ``b`` sends both families; each host's state must record its
own decision (a regression: the last host's decision was applied to all of them,
so ``b``'s IPv4 stayed unconfirmed and was sent again on every cycle).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server

V4 = "203.0.113.10"
V6 = "2001:db8::10"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProc]:
    data = tmp_path / "data"
    zone = run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data))
    assert zone.returncode == 0, zone.stderr
    srv = start_server(data, "--limits", "off")
    try:
        yield srv
    finally:
        stop_server(srv)


def _config(tmp_path: Path, srv: ServerProc, hosts: list[str], *, ipv6: bool) -> Path:
    six = f'[[ipv6.source]]\ntype = "static"\naddress = "{V6}"' if ipv6 else "enabled = false"
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
netlink = false
[[ipv4.source]]
type = "static"
address = "{V4}"
[ipv6]
{six}
[[provider]]
protocol = "homeport"
hosts = {json.dumps(hosts)}
server = "{srv.url}"
login = "alice"
password_env = "ALICE_PASSWORD"
"""
    )
    return path


def _once(tmp_path: Path, config: Path) -> subprocess.CompletedProcess[str]:
    result = run_homeport(
        "agent", "run", "--once", "--config", str(config),
        "--state-dir", str(tmp_path / "state"),
        env={"ALICE_PASSWORD": "correct horse battery"},
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _updates(srv: ServerProc) -> list[object]:
    audit = srv.admin_json("audit")
    assert isinstance(audit, list)
    return [entry for entry in audit if "update" in json.dumps(entry)]


def test_each_host_records_its_own_decision(server: ServerProc, tmp_path: Path) -> None:
    assert server.admin("user", "add", "alice", "--password-stdin",
                        input="correct horse battery\n").returncode == 0  # fmt: skip
    for name in ("a", "b"):
        server.add_host(f"{name}.dyn.example.net", "--user", "alice")
    # 1: only a, IPv4 only.
    first = _once(tmp_path, _config(tmp_path, server, ["a.dyn.example.net"], ipv6=False))
    assert first.returncode == 0, first.stderr
    # 2: b first, then a: a sends IPv6 only, b sends both.
    both = _config(tmp_path, server, ["b.dyn.example.net", "a.dyn.example.net"], ipv6=True)
    second = _once(tmp_path, both)
    assert second.returncode == 0, second.stderr
    assert "a.dyn.example.net: sending (IPv4 unchanged" in second.stderr, second.stderr
    assert "a.dyn.example.net: good 2001:db8::10\n" in second.stderr, second.stderr
    status = run_homeport("agent", "status", "--json", "--state-dir", str(tmp_path / "state"))
    hosts = json.loads(status.stdout)["hosts"]
    for name in ("a.dyn.example.net", "b.dyn.example.net"):
        assert hosts[name]["ipv4"]["address"] == V4, (name, hosts[name])
        assert hosts[name]["ipv6"]["address"] == V6, (name, hosts[name])
    sent = len(_updates(server))
    assert sent >= 3  # a's IPv4, then a's IPv6 and b's two families
    # 3: nothing changed, so nothing is sent for either host.
    third = _once(tmp_path, both)
    assert third.returncode == 0, third.stderr
    assert "sending" not in third.stderr, third.stderr
    assert len(_updates(server)) == sent
    assert server.dig("b.dyn.example.net", "A") == [V4]
    assert server.dig("a.dyn.example.net", "AAAA") == [V6]
