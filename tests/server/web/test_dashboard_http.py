"""The dashboard against a real server process, over plain HTTP: what survives a restart,
per-host TTLs as DNS serves them, scoped tokens as the update APIs enforce them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server
from tests.server.web.dash_http import PASSWORD, add_user, get, login, nic_update

ZONE = "dyn.example.net"
HOST = f"myhome.{ZONE}"


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
