"""`homeport doctor` in the namespace lab: every hop's failure found, with the right fix.

home runs the service on port 888; the router is real miniupnpd; inet runs a real
homeport server (update API, checkip, probe, authoritative DNS on :53).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.labserver import HOST, LabServer, start_lab_server
from tests.lab.netlab import Lab

pytestmark = pytest.mark.lab

PORT = 888


def update_from_home(lab: Lab, server: LabServer, url: str) -> str:
    """What a client at home sends: no address, so the server takes the connection's."""
    code = (
        "import base64, sys, urllib.request\n"
        "req = urllib.request.Request(sys.argv[1] + '/nic/update?hostname=' + sys.argv[2])\n"
        "token = base64.b64encode((sys.argv[2] + ':' + sys.argv[3]).encode()).decode()\n"
        "req.add_header('Authorization', 'Basic ' + token)\n"
        "print(urllib.request.urlopen(req, timeout=5).read().decode().strip())\n"
    )
    result = lab.python("home", code, url, HOST, server.secrets[HOST])
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def doctor(
    lab: Lab, server: LabServer, *extra: str
) -> tuple[int, dict[str, list[dict[str, str]]], str]:
    urls = ["--server", server.url]
    if lab.topology == "single":
        urls += ["--server", server.url6]
    result = lab.homeport(
        "home",
        "doctor",
        f"{HOST}:{PORT}",
        *urls,
        "--login",
        HOST,
        "--password-file",
        str(server.secret_file()),
        "--gateway",
        lab.router_lan_ip,
        "--timeout",
        "2",
        "--json",
        *extra,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    hops: dict[str, list[dict[str, str]]] = {}
    for check in report["checks"]:
        hops.setdefault(check["hop"], []).append(check)
    return result.returncode, hops, result.stdout


def verdicts(hops: dict[str, list[dict[str, str]]], hop: str) -> list[str]:
    return [c["verdict"] for c in hops[hop]]


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(lab: Lab) -> Path:
    """The lab's own CA, which the server's probe trusts ([probe] extra_ca_file)."""
    ca = lab.workdir / "ca.crt"
    openssl(
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
        *("-days", "30", "-subj", "/CN=homeport lab CA", "-keyout", str(lab.workdir / "ca.key")),
        *("-out", str(ca)),
    )
    return ca


@pytest.fixture(scope="module")
def single(single_lab: Lab) -> tuple[Lab, LabServer]:
    ca = make_ca(single_lab)
    probe = f'extra_ca_file = "{ca}"\n'
    return single_lab, start_lab_server(single_lab, probe=probe)  # stopped with the lab


def test_all_ok_then_each_hop_broken(single: tuple[Lab, LabServer]) -> None:
    lab, server = single
    service = lab.start_tcp_server("home", lab.home_ip, lab.home_ip6, port=PORT)
    added = lab.homeport(
        "home", "map", "add", str(PORT), "--method", "upnp", "--gateway", lab.router_lan_ip
    )
    assert added.returncode == 0, added.stderr
    # No AAAA: miniupnpd refuses IPv6 pinholes to ports below 1024 (UPnP 606, as the
    # WANIPv6FirewallControl spec allows), so this name is published for IPv4 only.
    assert update_from_home(lab, server, server.url) == f"good {lab.public_ip}"

    code, hops, text = doctor(lab, server)
    assert code == 0, text
    assert verdicts(hops, "reachable") == ["ok"]
    assert verdicts(hops, "dns") == ["ok", "ok"]  # A matches; no AAAA published
    assert verdicts(hops, "nat") == ["ok"]
    assert verdicts(hops, "router") == ["ok"]

    # DNS changed behind the agent's back.
    server.admin("host", "rm", HOST)  # simplest "someone else changed it": the record is gone
    code, hops, _ = doctor(lab, server)
    assert code == 2
    assert "fail" in verdicts(hops, "dns")
    # (put it back the way the agent would)
    server.secrets[HOST] = json.loads(server.admin("host", "add", HOST, "--json").stdout)["secret"]
    assert update_from_home(lab, server, server.url).startswith("good")

    # Port filtered at the router: packets to 888 dropped before miniupnpd's accept rules.
    lab.exec(
        "router",
        "nft",
        "insert",
        "rule",
        "inet",
        "filter",
        "forward",
        "tcp",
        "dport",
        str(PORT),
        "drop",
    )
    try:
        code, hops, _ = doctor(lab, server, "--no-router")
        ipv4 = next(c for c in hops["reachable"] if "IPv4" in c["subject"])
        assert ipv4["verdict"] == "fail"
        assert "filtered" in ipv4["evidence"]
        assert "firewall" in ipv4["fix"]
    finally:
        lab.exec("router", "nft", "flush", "chain", "inet", "filter", "forward")
        lab.exec(
            "router",
            "nft",
            "add",
            "rule",
            "inet",
            "filter",
            "forward",
            "ct",
            "state",
            "established,related",
            "accept",
        )
        lab.exec(
            "router",
            "nft",
            "add",
            "rule",
            "inet",
            "filter",
            "forward",
            "iifname",
            lab.lan_if,
            "oifname",
            lab.wan_if,
            "accept",
        )
        lab.exec("router", "nft", "add", "rule", "inet", "filter", "forward", "jump", "miniupnpd")

    # Mapping missing.
    assert (
        lab.homeport("home", "map", "rm", str(PORT), "--gateway", lab.router_lan_ip).returncode == 0
    )
    code, hops, _ = doctor(lab, server)
    assert code == 2
    router = hops["router"][0]
    assert router["verdict"] == "fail"
    assert f"homeport map add {PORT}" in router["fix"]

    # Service not running.
    service.kill()
    service.wait()
    code, hops, _ = doctor(lab, server)
    assert hops["listening"][0]["verdict"] == "fail"
    assert code == 2


TLS_PORT = 8443


def tls_server(lab: Lab, name: str, days: int) -> subprocess.Popen[bytes]:
    """openssl s_server in home with a fresh certificate for ``name`` from the lab's CA."""
    stem = lab.workdir / f"{name}-{days}"
    openssl(
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
        *("-subj", f"/CN={name}", "-keyout", f"{stem}.key", "-out", f"{stem}.csr"),
    )
    (lab.workdir / "san.ext").write_text(f"subjectAltName=DNS:{name}\n")
    openssl(
        *("x509", "-req", "-in", f"{stem}.csr", "-days", str(days), "-set_serial", str(days)),
        *("-CA", str(lab.workdir / "ca.crt"), "-CAkey", str(lab.workdir / "ca.key")),
        *("-extfile", str(lab.workdir / "san.ext"), "-out", f"{stem}.crt"),
    )
    proc = lab.popen(
        "home",
        *("openssl", "s_server", "-quiet", "-www", "-accept", f"{lab.home_ip}:{TLS_PORT}"),
        *("-cert", f"{stem}.crt", "-key", f"{stem}.key"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lab.wait_tcp("home", lab.home_ip, TLS_PORT)
    return proc


def test_tls_certificate_name_and_expiry(single: tuple[Lab, LabServer]) -> None:
    lab, server = single
    added = lab.homeport("home", "map", "add", str(TLS_PORT), "--gateway", lab.router_lan_ip)
    assert added.returncode == 0, added.stderr
    assert update_from_home(lab, server, server.url).startswith(("good", "nochg"))

    def tls_check() -> tuple[int, dict[str, str]]:
        result = lab.homeport(
            "home",
            *("doctor", f"{HOST}:{TLS_PORT}", "--tls", str(TLS_PORT), "--server", server.url),
            *("--login", HOST),
            *("--password-file", str(server.secret_file()), "--gateway", lab.router_lan_ip),
            *("--timeout", "2", "--json"),
            timeout=120,
        )
        assert result.stdout, result.stderr
        checks = json.loads(result.stdout)["checks"]
        return result.returncode, next(c for c in checks if c["hop"] == "tls")

    try:
        soon = tls_server(lab, HOST, days=5)  # renewal has been failing for weeks
        code, check = tls_check()
        assert (code, check["verdict"]) == (1, "warn"), check
        assert "expires in" in check["evidence"]
        assert "certbot renew" in check["fix"]
        soon.kill()
        soon.wait()

        wrong = tls_server(lab, "other.example.org", days=90)  # someone else's certificate
        code, check = tls_check()
        assert (code, check["verdict"]) == (2, "fail"), check
        assert "mismatch" in check["evidence"].lower()
        wrong.kill()
        wrong.wait()

        good = tls_server(lab, HOST, days=90)
        code, check = tls_check()
        assert check["verdict"] == "ok", check
        assert code == 0
        good.kill()
        good.wait()
    finally:
        lab.homeport("home", "map", "rm", str(TLS_PORT), "--gateway", lab.router_lan_ip)


def test_cgnat_is_named(cgnat_lab: Lab) -> None:
    server = start_lab_server(cgnat_lab)
    cgnat_lab.start_tcp_server("home", cgnat_lab.home_ip, port=PORT)
    assert update_from_home(cgnat_lab, server, server.url).startswith("good")
    code, hops, text = doctor(cgnat_lab, server)
    assert code == 2, text
    nat = hops["nat"][0]
    assert nat["verdict"] == "fail"
    assert nat["details"]["kind"] == "cgnat"  # type: ignore[index]
    assert "tunnel" in nat["fix"]


def test_double_nat_with_dmz_works_and_is_named(dmz_lab: Lab) -> None:
    server = start_lab_server(dmz_lab)
    dmz_lab.start_tcp_server("home", dmz_lab.home_ip, port=PORT)
    added = dmz_lab.homeport("home", "map", "add", str(PORT), "--gateway", dmz_lab.router_lan_ip)
    assert added.returncode == 0, added.stderr
    assert update_from_home(dmz_lab, server, server.url).startswith("good")
    code, hops, text = doctor(dmz_lab, server)
    assert verdicts(hops, "reachable") == ["ok"], text
    nat = hops["nat"][0]
    assert nat["verdict"] == "warn"
    assert nat["details"]["kind"] == "double-nat"  # type: ignore[index]
    assert code == 1
