"""`homeport doctor` in network namespaces of the test's own: real server, real doctor.

The namespaces have no default route, so nothing can leave them (the network rule).

IPv6 source: the doctor checks the address the agent publishes (core.addrpolicy), not
the one the kernel would choose. hp0 holds a stable documentation address (what the
agent's interface source publishes) and a deprecated one; the server listens on a ULA on
hp1. Left to itself the kernel speaks to a local ULA from that same ULA (RFC 6724 rule
1), so checkip and the probe would see, and test, an address that is not in DNS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.test_daemon_doctor import Proc, start_in, start_service
from tests.helpers import HOMEPORT, ROOT, homeport_env, network_namespace, run_homeport
from tests.server.conftest import add_hosts

HOST = "v6.dyn.example.net"
STABLE = "2001:db8:1::10"
DEPRECATED = "2001:db8:1::20"
SERVER = "fd00:1::1"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace("hp-doc6") as name:
        _ip("-n", name, "link", "add", "hp0", "type", "veth", "peer", "name", "hp1")
        for link in ("hp0", "hp1"):
            _ip("-n", name, "link", "set", link, "up")
        _ip("-n", name, "-6", "addr", "add", f"{STABLE}/64", "dev", "hp0", "nodad")
        _ip("-n", name, "-6", "addr", "add", f"{DEPRECATED}/64", "dev", "hp0", "nodad")
        _ip("-n", name, "-6", "addr", "change", f"{DEPRECATED}/64", "dev", "hp0",
            "nodad", "preferred_lft", "0")  # fmt: skip
        _ip("-n", name, "-6", "addr", "add", f"{SERVER}/64", "dev", "hp1", "nodad")
        yield name


def _in(
    netns: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", netns, *args],
        cwd=ROOT,
        env=homeport_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_doctor_speaks_from_the_published_ipv6_address(tmp_path: Path, netns: str) -> None:
    data = tmp_path / "data"
    zone = run_homeport(
        "server", "zone", "add", "dyn.example.net", "--ns", "ns1.dyn.example.net=127.0.0.1",
        "--allow-private", "--data", str(data),
    )  # fmt: skip
    assert zone.returncode == 0, zone.stderr
    secret = add_hosts(data, [HOST])[HOST]
    config = tmp_path / "server.toml"
    config.write_text('[probe]\nlab_networks = ["2001:db8::/32", "fd00::/8"]\n')
    procs: list[Proc] = []
    try:
        server = start_in(
            netns,
            [*HOMEPORT, "server", "run", "--data", str(data), "--limits", "off",
             "--http", f"[{SERVER}]:0", "--dns", "127.0.0.1:0", "--config", str(config)],
            "ready ",
        )  # fmt: skip
        procs.append(server)
        http = str(server.first["http"][0])  # type: ignore[index]
        dns = str(server.first["dns"][0])  # type: ignore[index]
        host, _, http_port = http.rpartition(":")  # the ready line prints no brackets
        assert host == SERVER, http
        url = f"http://[{SERVER}]:{http_port}"
        update = (
            "import base64, sys, urllib.request\n"
            "req = urllib.request.Request(sys.argv[1])\n"
            "token = base64.b64encode(sys.argv[2].encode()).decode()\n"
            "req.add_header('Authorization', 'Basic ' + token)\n"
            "print(urllib.request.urlopen(req, timeout=5).read().decode().strip())\n"
        )
        sent = _in(
            netns, sys.executable, "-c", update,
            f"{url}/nic/update?hostname={HOST}&myip={STABLE}", f"{HOST}:{secret}",
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith(("good", "nochg")), sent.stdout
        service, port = start_service(netns, "::")
        procs.append(service)

        result = _in(
            netns, *HOMEPORT, "doctor", f"{HOST}:{port}", "--server", url, "--login", HOST,
            "--password-env", "DOC_SECRET", "--dns", dns, "--no-router", "--timeout", "2",
            "--json", env={"DOC_SECRET": secret},
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        checks = json.loads(result.stdout)["checks"]
        aaaa = next(c for c in checks if c["hop"] == "dns" and c["subject"].endswith("AAAA"))
        assert aaaa["verdict"] == "ok", aaaa
        assert STABLE in aaaa["evidence"]
        reachable = next(c for c in checks if c["subject"] == f"port {port} IPv6")
        assert reachable["verdict"] == "ok", reachable
    finally:
        for proc in reversed(procs):
            proc.stop()


def test_doctor_shows_why_the_lan_address_is_unknown() -> None:
    """--gateway names an address this host has no route to: the lan-address hop says
    so, with the kernel's reason. The namespace has only lo (checked below), so no packet
    can leave it; a UDP connect() only asks the kernel for a route."""
    with network_namespace("hp-doclan") as ns:
        routes = subprocess.run(
            ["ip", "-n", ns, "-4", "route", "show"], check=True, capture_output=True, text=True
        )
        assert routes.stdout.strip() == ""
        result = _in(
            ns, *HOMEPORT, "doctor", f"{HOST}:9", "--server", "http://127.0.0.1:9",
            "--dns", "127.0.0.1:9", "--gateway", "10.9.9.9", "--no-router", "--timeout", "1",
            "--json",
        )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    checks = json.loads(result.stdout)["checks"]
    lan = next(c for c in checks if c["hop"] == "lan-address")
    assert lan["verdict"] == "fail"
    assert "no route to 10.9.9.9" in lan["evidence"], lan
    assert "unreachable" in lan["evidence"], lan
