"""The seed's ddclient.conf, read as it is by `homeport agent`, updates a real homeport server.

Only server=, ssl= and the checkip URL change. The agent runs in the lab's home
network, so checkip sees the router's public address (as at a real home), and the
seed's account login (login=myusername) is a homeport server account owning the host.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.labserver import HTTP_PORT, start_lab_server
from tests.lab.netlab import Lab

pytestmark = pytest.mark.lab

SEED = """\
# /etc/ddclient.conf -- as the seed's guide writes it
daemon=600                              # check every 600 seconds
syslog=yes                              # log update msgs to syslog
ssl=yes                                 # use ssl-support
protocol=dyndns2
use=web, web=checkip.dyndns.com, web-skip='IP Address'
server=members.dyndns.org
login=myusername
password='my-password'
myhome.dyndns.org
"""


def test_seed_ddclient_conf_updates_a_real_server(single_lab: Lab) -> None:
    lab = single_lab
    server = start_lab_server(lab, hosts=())
    assert (
        server.admin(
            "zone", "add", "dyndns.org", "--ns", f"ns1.dyndns.org={lab.inet_ip}"
        ).returncode
        == 0
    )
    added = server.admin("user", "add", "myusername", "--password-stdin", input="my-password\n")
    assert added.returncode == 0, added.stderr
    assert server.admin("host", "add", "myhome.dyndns.org", "--user", "myusername").returncode == 0

    address = f"{lab.inet_ip}:{HTTP_PORT}"
    conf = lab.workdir / "ddclient.conf"
    conf.write_text(
        SEED.replace("ssl=yes", "ssl=no")
        .replace("server=members.dyndns.org", f"server={address}")
        .replace("web=checkip.dyndns.com", f"web={address}/checkip")
    )
    conf.chmod(0o600)
    state = lab.workdir / "agent-state"

    first = lab.homeport(
        "home", "agent", "run", "--once", "--ddclient-conf", str(conf), "--state-dir", str(state)
    )
    assert first.returncode == 0, first.stderr
    assert server.dig("myhome.dyndns.org") == [lab.public_ip]

    # Nothing changed: the second run polls checkip and sends no update (no nochg spam).
    second = lab.homeport(
        "home", "agent", "run", "--once", "--ddclient-conf", str(conf), "--state-dir", str(state)
    )
    assert second.returncode == 0, second.stderr
    audit = server.admin("audit", "--json").stdout
    assert len(re.findall(r'"action": "update"', audit)) == 1
    assert "my-password" not in first.stdout + first.stderr + second.stdout + second.stderr
