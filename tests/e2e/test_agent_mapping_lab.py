"""`homeport agent run` with `[[mapping]]` in the lab: the daemon keeps the router's mapping
alive and publishes the public address, reacting to the router's own events.

home runs a TCP service on 888 and the agent (a daemon, not --once); the router is real
miniupnpd; inet runs a real homeport server (dyndns2 update API, checkip, DNS on :53).
The address is published only when the server's checkip and the router source agree.
The agent polls only once an hour, so a DNS change seen within seconds of the router's WAN
address moving can only be the GENA event's doing.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.agentproc import AgentProcess, wait_until
from tests.e2e.labserver import HOST, LabServer, start_lab_server
from tests.lab.netlab import BANNER, Lab

pytestmark = pytest.mark.lab

PORT = 888
LEASE = 4  # seconds asked for; renewed every 2 s (miniupnpd's min_lifetime is 2 in the lab)
NEW_WAN = "203.0.113.5"


def agent_config(lab: Lab, server: LabServer, *, keep: bool, lease: int) -> str:
    return f"""
[agent]
interval = "1h"       # only an event can explain a quick DNS change
netlink = false       # (debounce and event_gap: the defaults)
timeout = "5s"

[ipv4]
require = 2           # both must agree: the outside's view and the router's own
[[ipv4.source]]
type = "web"
url = "{server.url}/checkip"
[[ipv4.source]]
type = "router"       # asked once in the first cycle, then the keeper's (GENA-fed) value

[ipv6]
enabled = false

[[provider]]
protocol = "dyndns2"
hosts = ["{HOST}"]
server = "{lab.inet_ip}:8245"
ssl = false
login = "{HOST}"
password = "{server.secrets[HOST]}"

[[mapping]]
external_port = {PORT}
internal_port = {PORT}
lease = {lease}
keep = {"true" if keep else "false"}
"""


def router_ports(lab: Lab) -> list[int]:
    """External ports in the router's table (UPnP lists NAT-PMP/PCP mappings too)."""
    listed = lab.homeport("home", "map", "list", "--json", "--gateway", lab.router_lan_ip)
    assert listed.returncode == 0, listed.stderr
    return [m["external_port"] for m in json.loads(listed.stdout)]


def reachable(lab: Lab) -> bool:
    return lab.probe_tcp("inet", lab.public_ip, PORT, timeout=1.0) == BANNER


@pytest.fixture(scope="module")
def lab_and_server(single_lab: Lab) -> tuple[Lab, LabServer]:
    server = start_lab_server(single_lab)  # both stopped with the lab
    single_lab.start_tcp_server("home", single_lab.home_ip, port=PORT)
    return single_lab, server


def test_agent_keeps_the_mapping_and_follows_the_router(
    lab_and_server: tuple[Lab, LabServer],
) -> None:
    lab, server = lab_and_server
    assert not reachable(lab)
    agent = AgentProcess(lab, "agent", agent_config(lab, server, keep=False, lease=LEASE))
    old_wan = lab.router_wan_ip
    try:
        # (a) created; reachable through the router's public address; published in DNS.
        agent.wait_log(f"mapping tcp {PORT}", 30)
        assert "created" in agent.text()
        assert wait_until(lambda: reachable(lab), 10), agent.text()
        assert wait_until(lambda: server.dig(HOST) == [lab.public_ip], 20), agent.text()
        assert PORT in router_ports(lab)
        assert f"IPv4 router: {old_wan}" in agent.text()  # asked once: no keeper yet

        # (b) several lease periods: renewed, never gone.
        renewed = agent.count("renewed")
        end = time.monotonic() + 3 * LEASE + 1
        while time.monotonic() < end:
            assert reachable(lab), agent.text()
            time.sleep(0.5)
        assert agent.count("renewed") - renewed >= 4, agent.text()

        # (c) the router restarts and forgets its mappings: back within one renewal period.
        def gone() -> None:
            assert not reachable(lab)

        lab.restart_miniupnpd(while_down=gone)
        restarted = time.monotonic()
        assert wait_until(lambda: reachable(lab), LEASE / 2 + 3, step=0.1), agent.text()
        print(f"mapping back {time.monotonic() - restarted:.1f} s after the router restarted")
        agent.wait_log("the router lost its mappings", 5)  # the PCP epoch went back
        # GENA subscribes afresh after a reboot; let the re-subscription land first.
        time.sleep(2)

        # (d) the WAN address moves: GENA event -> cycle -> DNS, well inside the 1 h poll.
        assert server.dig(HOST) == [old_wan]
        moved = time.monotonic()
        lab.set_router_wan_address(NEW_WAN)
        assert wait_until(lambda: server.dig(HOST) == [NEW_WAN], 15, step=0.1), agent.text()
        delay = time.monotonic() - moved
        print(f"GENA external-IP event -> DNS answer {NEW_WAN}: {delay:.2f} s")
        assert "external address is now " + NEW_WAN in agent.text()
        assert f"IPv4 router: {NEW_WAN}" in agent.text()  # the keeper's value, via the fork
        assert wait_until(lambda: reachable(lab), LEASE), agent.text()

        # (e) SIGTERM removes the mapping.
        assert agent.stop() == 0, agent.text()
        assert "removed from the router" in agent.text()
        assert not reachable(lab)
        assert PORT not in router_ports(lab)
    finally:
        agent.kill()
        if lab.router_wan_ip != old_wan:
            lab.set_router_wan_address(old_wan)


def test_keep_true_leaves_the_mapping_on_stop(lab_and_server: tuple[Lab, LabServer]) -> None:
    lab, server = lab_and_server
    # A long lease: the mapping must still be there when we look, with no agent renewing it.
    agent = AgentProcess(lab, "agent-keep", agent_config(lab, server, keep=True, lease=120))
    try:
        agent.wait_log("created", 30)
        assert wait_until(lambda: reachable(lab), 10), agent.text()
        assert agent.stop() == 0, agent.text()
        assert "removed from the router" not in agent.text()
        assert reachable(lab)  # left for its lease: no agent renews it now
        assert PORT in router_ports(lab)
    finally:
        agent.kill()
        lab.homeport("home", "map", "rm", str(PORT), "--gateway", lab.router_lan_ip)
