"""The seed's whole story, end to end in the namespace lab.

``home`` runs a web server on port 888 and ``homeport agent run``; its only config is a
homeport server in ``inet`` (provider and checkip) and one ``[[mapping]]`` for 888. The agent
maps the port through the router's real miniupnpd and publishes the name; a client in
``inet`` whose resolver is the homeport server's authoritative DNS fetches
``http://myhome.dyn.example.net:888/`` with curl; and ``homeport doctor`` (on its own and
inside ``agent status --doctor``) finds every hop ok. Then the ISP moves the router's WAN
address and the same client, same name, still gets the page.

IPv4 only: miniupnpd refuses IPv6 pinholes to ports below 1024 (UPnP error 606, which the
WANIPv6FirewallControl spec allows), so port 888 cannot be opened for IPv6 by any client.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.agentproc import AgentProcess, wait_until
from tests.e2e.labserver import HOST, LabServer, start_lab_server
from tests.lab.netlab import Lab

pytestmark = pytest.mark.lab

PORT = 888
PAGE = "<h1>hello from the raspberry pi at home</h1>\n"
NEW_WAN = "203.0.113.6"
METRICS_PORT = 9475


def seed_config(lab: Lab, server: LabServer) -> str:
    """What a user writes: the provider (which is also the checkip) and the port."""
    return f"""
[agent]
interval = "5m"

[[ipv4.source]]
type = "web"
url = "{server.url}/checkip"

[ipv6]
enabled = false       # 888 cannot be opened for IPv6 (see the module docstring)

[[provider]]
protocol = "homeport"
hosts = ["{HOST}"]
server = "{lab.inet_ip}:{server.url.rsplit(":", 1)[1]}"
ssl = false
login = "{HOST}"
password_file = "{server.secret_file()}"

[[mapping]]
internal_port = {PORT}

[metrics]
listen = "127.0.0.1:{METRICS_PORT}"   # in home's own loopback
doctor = "1h"         # the daemon walks every hop and reports it here
"""


def fetch_by_name(lab: Lab) -> subprocess.CompletedProcess[str]:
    """curl in inet: glibc resolves the name at the homeport server, then HTTP to NAME:888."""
    return lab.exec(
        "inet",
        "curl",
        "--silent",
        "--show-error",
        "--max-time",
        "5",
        "--write-out",
        "\\n%{remote_ip}",
        f"http://{HOST}:{PORT}/",
        check=False,
    )


@pytest.fixture(scope="module")
def story(single_lab: Lab) -> Iterator[tuple[Lab, LabServer, AgentProcess]]:
    lab = single_lab
    server = start_lab_server(lab)  # stopped with the lab
    site = lab.workdir / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE)
    lab.start_web_server("home", lab.home_ip, PORT, site)
    lab.use_resolver("inet", lab.inet_ip)
    agent = AgentProcess(lab, "seed", seed_config(lab, server))
    try:
        yield lab, server, agent
    finally:
        agent.stop()
        agent.kill()


def test_the_page_is_reachable_by_name_from_the_internet(
    story: tuple[Lab, LabServer, AgentProcess],
) -> None:
    lab, server, agent = story
    assert wait_until(lambda: server.dig(HOST) == [lab.public_ip], 30), agent.text()
    agent.wait_log("created", 30)  # the keeper maps 888 right after the first cycle
    fetched = fetch_by_name(lab)
    assert fetched.returncode == 0, fetched.stderr + agent.text()
    body, _, remote = fetched.stdout.rpartition("\n")
    assert body == PAGE.rstrip("\n") or body == PAGE, fetched.stdout
    assert remote == lab.public_ip  # resolved through our DNS to the router's public address


def test_doctor_says_every_hop_is_ok(story: tuple[Lab, LabServer, AgentProcess]) -> None:
    lab, server, agent = story
    assert wait_until(lambda: server.dig(HOST) == [lab.public_ip], 30), agent.text()
    table = lab.homeport("home", "doctor", "--config", str(agent.config), timeout=120)
    print(table.stdout)  # the human table, for the record (pytest -s)
    assert table.returncode == 0, table.stdout + table.stderr
    result = lab.homeport("home", "doctor", "--config", str(agent.config), "--json", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)["checks"]
    by_hop = {c["hop"]: c["verdict"] for c in checks if c["verdict"] != "skipped"}
    # Every hop the doctor can see from here was looked at and is ok.
    for hop in ("listening", "router", "nat", "dns", "reachable"):
        assert by_hop.get(hop) == "ok", json.dumps(checks, indent=1)
    assert {c["verdict"] for c in checks} <= {"ok", "skipped"}, result.stdout

    # The same walk from the daemon's own status command.
    status = lab.homeport(
        "home",
        "agent",
        "status",
        "--config",
        str(agent.config),
        "--state-dir",
        str(agent.state),
        "--doctor",
        "--json",
        timeout=120,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    document = json.loads(status.stdout)
    assert document["hosts"][HOST]["last_code"].startswith("good")
    assert {c["verdict"] for c in document["doctor"]["checks"]} <= {"ok", "skipped"}


def metric_lines(lab: Lab, prefix: str) -> dict[str, float]:
    scraped = lab.exec(
        "home",
        "curl",
        "-s",
        "--max-time",
        "2",
        f"http://127.0.0.1:{METRICS_PORT}/metrics",
        check=False,
    ).stdout
    return {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in scraped.splitlines()
        if line.startswith(prefix)
    }


def test_the_daemon_reports_reachability_in_its_metrics(
    story: tuple[Lab, LabServer, AgentProcess],
) -> None:
    lab, _, agent = story
    # The daemon's first doctor run waits for the keeper's mapping, then takes a few seconds
    # (more on a loaded machine: it is a child process walking seven hops).
    ran = wait_until(lambda: "homeport_doctor_worst" in metric_lines(lab, "homeport_doctor"), 150)
    assert ran, agent.text()
    lines = metric_lines(lab, "homeport_doctor")
    status = lab.exec(
        *("home", "curl", "-s", "--max-time", "2", f"http://127.0.0.1:{METRICS_PORT}/status"),
        check=False,
    ).stdout
    assert lines["homeport_doctor_worst"] == 0, status + agent.text()
    verdicts = {k: v for k, v in lines.items() if k.startswith("homeport_doctor_verdict")}
    for hop in ("listening", "router", "nat", "dns", "reachable"):
        assert any(f'hop="{hop}"' in k and v == 0 for k, v in verdicts.items()), verdicts
    assert "metrics: homeport doctor: ok" in agent.text()


def test_a_record_changed_behind_the_agents_back_is_found_and_fixed(
    story: tuple[Lab, LabServer, AgentProcess],
) -> None:
    lab, server, agent = story
    assert wait_until(lambda: server.dig(HOST) == [lab.public_ip], 30), agent.text()
    # Someone else (an old router's built-in client, say) sends another address.
    elsewhere = lab.exec(
        "inet",
        "curl",
        "-s",
        "--max-time",
        "5",
        "-u",
        f"{HOST}:{server.secrets[HOST]}",
        f"{server.url}/nic/update?hostname={HOST}&myip=198.51.100.9",
    )
    assert elsewhere.stdout.strip() == "good 198.51.100.9"
    doctor = lab.homeport("home", "doctor", "--config", str(agent.config), "--json", timeout=120)
    assert doctor.returncode == 2, doctor.stdout
    (stale,) = [c for c in json.loads(doctor.stdout)["checks"] if c["subject"].endswith(" A")]
    assert stale["verdict"] == "fail"
    assert "198.51.100.9" in stale["evidence"]
    assert f"should be {lab.public_ip}" in stale["evidence"]
    assert "agent run --once --force" in stale["fix"]

    # The agent's state says the address is published: a plain run sends nothing...
    again = [*("agent", "run", "--once", "--config", str(agent.config))]
    again += ["--state-dir", str(agent.state)]
    assert lab.homeport("home", *again).returncode == 0
    assert server.dig(HOST) == ["198.51.100.9"]
    # ...and the fix the doctor names puts it right.
    forced = lab.homeport("home", *again, "--force")
    assert forced.returncode == 0, forced.stderr
    assert server.dig(HOST) == [lab.public_ip]
    doctor = lab.homeport("home", "doctor", "--config", str(agent.config), timeout=120)
    assert doctor.returncode == 0, doctor.stdout


def test_the_isp_moves_the_address_and_the_name_follows(
    story: tuple[Lab, LabServer, AgentProcess],
) -> None:
    lab, server, agent = story
    old = lab.router_wan_ip
    assert wait_until(lambda: server.dig(HOST) == [old], 30), agent.text()
    try:
        lab.set_router_wan_address(NEW_WAN)
        # The agent polls every 5 minutes; the router's GENA event makes this quick.
        assert wait_until(lambda: server.dig(HOST) == [NEW_WAN], 15, step=0.1), agent.text()
        fetched = fetch_by_name(lab)
        assert fetched.returncode == 0, fetched.stderr + agent.text()
        assert fetched.stdout.rpartition("\n")[2] == NEW_WAN
        assert PAGE.strip() in fetched.stdout
    finally:
        if lab.router_wan_ip != old:
            lab.set_router_wan_address(old)
