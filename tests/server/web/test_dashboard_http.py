"""The dashboard against a real server process, over plain HTTP: what survives a restart,
per-host TTLs as DNS serves them, scoped tokens as the update APIs enforce them."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.errors import ConfigError
from homeport.server.config import ServerConfig
from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server
from tests.server.web.dash_http import PASSWORD, add_user, csrf_of, get, login, nic_update, post

ZONE = "dyn.example.net"
HOST = f"myhome.{ZONE}"
DIG_FLAGS = ("+noall", "+answer", "+norec", "+time=2", "+tries=2")


@pytest.fixture
def restartable(data_dir: Path) -> Iterator[list[ServerProc]]:
    """A server (limits off) in a one-item list: a test may replace it by a restarted one."""
    result = run_homeport("server", "zone", "add", ZONE, "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    servers = [start_server(data_dir, "--limits", "off")]
    try:
        yield servers
    finally:
        stop_server(servers[-1])


def restart(servers: list[ServerProc]) -> ServerProc:
    stop_server(servers[-1])
    servers.append(start_server(servers[-1].data, "--limits", "off"))
    return servers[-1]


def test_request_counts_and_the_last_client_survive_a_restart(
    restartable: list[ServerProc],
) -> None:
    server = restartable[0]
    add_user(server, "alice")
    secret = server.add_host(HOST, "--user", "alice")
    assert nic_update(server, HOST, secret, "192.0.2.7", agent="ddclient/3.10.0") == (
        200,
        "good 192.0.2.7",
    )
    assert nic_update(server, HOST, secret, "192.0.2.7", agent="ddclient/3.10.0")[1] == (
        "nochg 192.0.2.7"
    )
    # A private address in a public zone: refused (a fault), and the newest request.
    status, body = nic_update(server, HOST, secret, "10.0.0.1", agent="router-x/2")
    assert not body.startswith(("good", "nochg")), body
    server = restart(restartable)
    status, _, session = login(server.url, "alice", PASSWORD)
    assert status == 303
    status, page = get(server.url, "/dash/hosts", session)
    assert status == 200
    cells = re.search(r'<td class="results">([^<]*)</td>', page)
    assert cells is not None, page
    assert cells.group(1).split() == ["1", "/", "1", "/", "1"]
    status, page = get(server.url, f"/dash/hosts/{HOST}", session)
    assert 'id="results">good 1, nochg 1, fault 1<' in page
    last = re.search(r'id="last-request">(.*?)</dd>', page, re.S)
    assert last is not None
    assert "127.0.0.1" in last.group(1)
    assert "router-x/2" in last.group(1)


def _answer_ttl(server: ServerProc, name: str) -> list[tuple[int, str]]:
    """(TTL, address) of each A record DNS serves at ``name``."""
    result = subprocess.run(
        ["dig", f"@{server.dns[0]}", "-p", str(server.dns[1]), name, "A", *DIG_FLAGS],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    return sorted((int(r[1]), r[4]) for r in rows)


def test_a_hosts_ttl_is_served_kept_within_limits_and_survives_a_restart(
    restartable: list[ServerProc],
) -> None:
    server = restartable[0]
    add_user(server, "alice")
    secret = server.add_host(HOST, "--user", "alice")
    assert nic_update(server, HOST, secret, "192.0.2.7")[1] == "good 192.0.2.7"
    assert _answer_ttl(server, HOST) == [(60, "192.0.2.7")]  # the zone's default
    _, _, session = login(server.url, "alice", PASSWORD)
    _, page = get(server.url, f"/dash/hosts/{HOST}", session)
    csrf = csrf_of(page)
    path = f"/dash/hosts/{HOST}/ttl"
    for bad in ("5", "86401", "-60", "1e3", "<b>60</b>", "9" * 40):
        status, page = post(server.url, path, session, {"csrf": csrf, "ttl": bad})
        assert status == 400, bad
        assert "from 30 to 86400" in page
    assert _answer_ttl(server, HOST) == [(60, "192.0.2.7")]
    status, _ = post(server.url, path, session, {"csrf": csrf, "ttl": "300"})
    assert status == 303
    assert _answer_ttl(server, HOST) == [(300, "192.0.2.7")]  # served at once
    # Another account's session cannot set it (the same 404 as no such host).
    add_user(server, "bob")
    _, _, bob = login(server.url, "bob", PASSWORD)
    _, page = get(server.url, "/dash/hosts", bob)
    assert post(server.url, path, bob, {"csrf": csrf_of(page), "ttl": "30"})[0] == 404
    # An update keeps the TTL; a restart serves it.
    assert nic_update(server, HOST, secret, "192.0.2.8")[1] == "good 192.0.2.8"
    server = restart(restartable)
    assert _answer_ttl(server, HOST) == [(300, "192.0.2.8")]
    _, _, session = login(server.url, "alice", PASSWORD)
    _, page = get(server.url, f"/dash/hosts/{HOST}", session)
    assert 'id="ttl">300 s<' in page
    # Empty: back to the zone's default.
    assert post(server.url, path, session, {"csrf": csrf_of(page), "ttl": ""})[0] == 303
    assert _answer_ttl(server, HOST) == [(60, "192.0.2.8")]
    audit = server.admin_json("audit")
    assert isinstance(audit, list)
    assert [e["detail"] for e in audit if e["action"] == "host ttl"][:2] == [
        "dashboard ttl=None",
        "dashboard ttl=300",
    ]


def test_ttl_limits_must_make_sense() -> None:
    with pytest.raises(ConfigError, match="host_ttl_min is larger"):
        ServerConfig.build({"host_ttl_min": 600, "host_ttl_max": 60})
