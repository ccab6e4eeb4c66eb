"""The installed server on each event loop: HTTP update, then DNS over UDP and TCP.

uvloop is what the README installs (the `speed` extra) and what `auto` picks;
plain asyncio is the fallback. Both must serve the whole shipped path: a
transport type that exists on one loop only (uvloop's TCPTransport is no
asyncio.Transport) once reset every DNS-over-TCP connection on uvloop.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_homeport
from tests.server.conftest import start_server, stop_server
from tests.server.dns_fixtures import LOOPS, dig, kdig
from tests.server.httpget import get

HOST = "myhome.dyn.example.net"


@pytest.mark.peer
@pytest.mark.parametrize("loop", LOOPS)
def test_update_then_answer_over_udp_and_tcp(tmp_path: Path, loop: str) -> None:
    data = tmp_path / "data"
    assert (
        run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data)).returncode
        == 0
    )
    added = run_homeport("server", "host", "add", HOST, "--data", str(data), "--json")
    secret = added.stdout.split('"secret": "')[1].split('"')[0]
    srv = start_server(data, "--loop", loop)
    try:
        assert f'"loop": "{loop}"' in srv.output[0]
        status, body, _ = get(
            srv.http, f"/nic/update?hostname={HOST}&myip=192.0.2.10", auth=(HOST, secret)
        )
        assert (status, body.strip()) == (200, "good 192.0.2.10")
        for tool in (dig, kdig):
            for transport in ((), ("+tcp",)):
                r = tool(srv.dns[1], "+norec", *transport, HOST, "A")
                assert (r.status, r.answer[0][4]) == ("NOERROR", "192.0.2.10"), (tool, transport)
    finally:
        stop_server(srv)


def test_event_loop_setting(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('[server]\nevent_loop = "tokio"\n')
    result = run_homeport("server", "run", "--config", str(config), "--data", str(tmp_path / "d"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "event_loop" in lines[0]
    assert "Traceback" not in result.stderr
