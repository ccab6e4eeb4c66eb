"""CGNAT and double NAT: the explanation instead of a mapping; DMZ double NAT still works."""

from __future__ import annotations

import json

import pytest

from tests.lab.keeper_proc import KeeperProcess
from tests.lab.netlab import BANNER, Lab

pytestmark = pytest.mark.lab


def test_cgnat_status_and_add(cgnat_lab: Lab) -> None:
    status = cgnat_lab.homeport("home", "map", "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    # miniupnpd behind CGNAT: Connected, the carrier's address, every mapping refused.
    assert data["connection_status"] == "Connected"
    assert data["external_ip"] == cgnat_lab.public_ip
    assert data["verdict"] == "cgnat"
    assert "CGNAT" in data["explanation"]

    text = cgnat_lab.homeport("home", "map", "status")
    assert "verdict: cgnat" in text.stdout

    result = cgnat_lab.homeport("home", "map", "add", "8080")
    assert result.returncode == 69
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    for needle in ("CGNAT", "double NAT", "tunnel", "VPS", "IPv6"):
        assert needle in lines[0]
    # Debian's natpmpc sees the same refusal.
    natpmpc = cgnat_lab.exec(
        "home",
        "natpmpc",
        "-g",
        cgnat_lab.router_lan_ip,
        "-a",
        "8080",
        "8080",
        "tcp",
        "60",
        check=False,
    )
    assert "network failure" in natpmpc.stdout + natpmpc.stderr


def test_keeper_behind_cgnat_reports_once_and_does_not_retry(cgnat_lab: Lab) -> None:
    keeper = KeeperProcess(cgnat_lab, "auto", 8080, 8080, 60)
    try:
        event = keeper.wait_for("no-mapping-possible", 30)
        assert "CGNAT" in event["detail"]
        started = keeper.wait_for("started", 10)
        # Not kept: no renewal or retry is scheduled for it, now or ever.
        assert started["kept"] == []
    finally:
        keeper.stop()
    assert keeper.kinds() == ["no-mapping-possible", "started", "stopped"]


def test_dmz_double_nat_maps_through(dmz_lab: Lab) -> None:
    dmz_lab.start_tcp_server("home", dmz_lab.home_ip, port=8080)
    assert dmz_lab.probe_tcp("inet", dmz_lab.public_ip, 9070) is None
    result = dmz_lab.homeport("home", "map", "add", "9070", "--internal-port", "8080", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["external_port"] == 9070
    assert dmz_lab.probe_tcp("inet", dmz_lab.public_ip, 9070) == BANNER
    status = json.loads(dmz_lab.homeport("home", "map", "status", "--json").stdout)
    assert status["verdict"] == "ok"
