"""The seed's story over HTTPS, end to end in the namespace lab.

``inet`` runs the homeport server (the name's authoritative DNS) and Debian's pebble as the
CA, resolving through that DNS. In ``home``: ``homeport agent run`` publishes the name and
maps 443 and 8443 through the router's miniupnpd; ``homeport cert issue`` gets NAME and
*.NAME from pebble through the ``homeport`` provider (httpreq ``/present``/``/cleanup`` with
the host's secret, DNS-01 served by the server's own DNS); Debian's Caddy runs the config
``homeport proxy caddy`` prints, in front of a plain page on 888 and an h2c upstream on 8000
(a second Caddy that answers with the protocol its request arrived in, so the h2c hop is
proven by the upstream itself, as in tests/cert/test_proxy.py). From ``inet``, curl resolves
NAME through the homeport server's DNS, trusts only this run's pebble root, and gets the
page (HTTP/1.1) and the upstream (HTTP/2 end to end, what a gRPC call needs); ``homeport
doctor`` finds the TLS hop ok, the server's probe trusting the pebble root.

IPv4 only, like the seed story (miniupnpd refuses IPv6 pinholes below port 1024).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.agentproc import AgentProcess, wait_until
from tests.e2e.labserver import HOST, HTTP_PORT, LabServer, start_lab_server
from tests.helpers import homeport_env
from tests.lab.netlab import Lab
from tests.pebble import QUIET_ENV, STARTUP_LIMIT, Pebble, write_config

pytestmark = pytest.mark.lab

PAGE = "<h1>hello from the raspberry pi at home, over TLS</h1>\n"
WEB_PORT = 888  # the seed's plain HTTP service
H2C_PORT = 8000  # the seed's gRPC service (h2c: HTTP/2 without TLS)
HTTPS_PORT = 443  # the page, through Caddy
GRPC_PORT = 8443  # the h2c upstream, through Caddy
CURL_LIMIT = "10"  # seconds per curl; a TLS handshake through NAT on a loaded 2-core machine
# Caddy starts in well under a second; the agent maps the ports in its first cycle. Both can
# be slow on the shared 2-core machine.
READY_LIMIT = 60.0
CERT_LIMIT = 180  # seconds for `homeport cert issue`: two authorizations, DNS checked live


def agent_config(lab: Lab, server: LabServer) -> str:
    """The seed's config with the two TLS ports mapped instead of 888."""
    return f"""
[agent]
interval = "5m"

[[ipv4.source]]
type = "web"
url = "{server.url}/checkip"

[ipv6]
enabled = false       # ports below 1024 cannot be opened for IPv6 (see the docstring)

[[provider]]
protocol = "homeport"
hosts = ["{HOST}"]
server = "{lab.inet_ip}:{HTTP_PORT}"
ssl = false
login = "{HOST}"
password_file = "{server.secret_file()}"

[[mapping]]
internal_port = {HTTPS_PORT}

[[mapping]]
internal_port = {GRPC_PORT}
"""


def start_pebble(lab: Lab) -> tuple[Pebble, Path]:
    """Pebble in ``inet`` on the lab's internet address, resolving every name at the homeport
    server's DNS there; (pebble, its root written to a file). Stopped with the lab."""
    config, pebble = write_config(lab.workdir / "pebble", lab.inet_ip)
    log = lab.workdir / "pebble" / "pebble.log"
    with log.open("wb") as out:
        proc = lab.popen(
            "inet",
            *("pebble", "-config", str(config), "-dnsserver", f"{lab.inet_ip}:53"),
            stdout=out,
            stderr=out,
            env=homeport_env(QUIET_ENV),
        )
    fetch = ["curl", "--silent", "--fail", "--max-time", "5", "--cacert", str(pebble.api_ca)]
    deadline = time.monotonic() + STARTUP_LIMIT
    while lab.exec("inet", *fetch, pebble.directory, check=False).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"pebble did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    root = lab.workdir / "pebble-root.pem"
    root.write_text(lab.exec("inet", *fetch, f"{pebble.management}/roots/0").stdout)
    return pebble, root


def caddy(lab: Lab, name: str, config: str) -> subprocess.Popen[bytes]:
    """Debian's Caddy in ``home`` running ``config``; its state and log under the lab's dir."""
    home = lab.workdir / f"caddy-{name}"
    home.mkdir()
    path = home / "Caddyfile"
    path.write_text(config)
    env = homeport_env(
        {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
         "XDG_CONFIG_HOME": str(home / "config")}
    )  # fmt: skip
    with (home / "log").open("wb") as out:
        return lab.popen(
            "home",
            *("caddy", "run", "--adapter", "caddyfile", "--config", str(path)),
            stdout=out,
            stderr=out,
            env=env,
        )


def caddy_log(lab: Lab, name: str) -> str:
    path = lab.workdir / f"caddy-{name}" / "log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def upstream_config() -> str:
    """The h2c upstream: HTTP/1.1 and h2c on 8000, answering with the request's protocol."""
    return (
        "{\n\tadmin off\n\tauto_https off\n\tservers {\n\t\tprotocols h1 h2c\n\t}\n}\n"
        f"http://:{H2C_PORT} {{\n\tbind 127.0.0.1\n"
        '\trespond "h2c via {http.request.proto}"\n}\n'
    )


def curl(lab: Lab, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.exec(
        role,
        *("curl", "--silent", "--show-error", "--max-time", CURL_LIMIT, *args),
        check=False,
        timeout=30,
    )


@dataclass
class Story:
    lab: Lab
    server: LabServer
    agent: AgentProcess
    pebble: Pebble
    root: Path
    certs: Path
    issued: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def story(single_lab: Lab) -> Iterator[Story]:
    lab = single_lab
    assert shutil.which("caddy"), "Debian's caddy is needed (scripts/debian-test-packages.txt)"
    assert shutil.which("pebble"), "Debian's pebble is needed"
    # Pebble first: the server's probe must trust its root, which exists only once it runs.
    # Pebble asks the DNS only when it validates, after the server is up.
    pebble, root = start_pebble(lab)
    server = start_lab_server(lab, probe=f'extra_ca_file = "{root}"\n')  # stopped with the lab
    site = lab.workdir / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE)
    lab.start_web_server("home", "127.0.0.1", WEB_PORT, site)
    caddy(lab, "upstream", upstream_config())
    lab.use_resolver("inet", lab.inet_ip)
    agent = AgentProcess(lab, "https", agent_config(lab, server))
    try:
        certs = lab.workdir / "certs"
        issued = lab.homeport(
            "home",
            *("cert", "issue", HOST, "--config", str(agent.config)),
            *("--acme", pebble.directory, "--ca-bundle", str(pebble.api_ca)),
            *("--cert-dir", str(certs)),
            timeout=CERT_LIMIT,
        )
        assert issued.returncode == 0, issued.stdout + issued.stderr
        made = lab.homeport(
            "home",
            *("proxy", "caddy", "--name", HOST, "--cert-dir", str(certs), "--admin", "off"),
            "--service",
            f"{HTTPS_PORT}=http://127.0.0.1:{WEB_PORT}",
            "--service",
            f"{GRPC_PORT}=h2c://127.0.0.1:{H2C_PORT}",
        )
        assert made.returncode == 0, made.stderr
        assert f"reverse_proxy h2c://127.0.0.1:{H2C_PORT}" in made.stdout
        caddy(lab, "front", made.stdout)
        yield Story(lab, server, agent, pebble, root, certs, issued)
    finally:
        agent.stop()
        agent.kill()


def fetch_by_name(story: Story, *args: str, port: int = HTTPS_PORT) -> tuple[str, str, str]:
    """curl in inet: NAME through the homeport server's DNS, TLS trusting only pebble's root.

    Retried until Caddy listens and the agent's mappings exist (both come up on their own);
    (the body, the HTTP version curl spoke, the address it connected to).
    """
    lab = story.lab
    url = f"https://{HOST}/" if port == HTTPS_PORT else f"https://{HOST}:{port}/"
    deadline = time.monotonic() + READY_LIMIT
    while True:
        done = curl(lab, "inet", "--fail", "--cacert", str(story.root), *args,
                    "--write-out", "\\n%{http_version}\\n%{remote_ip}", url)  # fmt: skip
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert done.returncode == 0, (
        f"{done.stderr}\nagent:\n{story.agent.text()[-3000:]}\ncaddy:\n{caddy_log(lab, 'front')}"
    )
    body, version, remote = done.stdout.rsplit("\n", 2)
    return body, version, remote


def test_the_certificate_is_issued_through_homeports_own_dns(story: Story) -> None:
    lab, server = story.lab, story.server
    fullchain = (story.certs / HOST / "fullchain.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(fullchain)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(san.value.get_values_for_type(x509.DNSName)) == sorted([HOST, f"*.{HOST}"])
    assert (story.certs / HOST / "privkey.pem").stat().st_mode & 0o777 == 0o600
    # Signed by this run's pebble: the chain verifies against its root and nothing else.
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(story.root), "-untrusted",
         str(story.certs / HOST / "fullchain.pem"), str(story.certs / HOST / "fullchain.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Both challenge values were removed again from the server's zone.
    assert server.dig(f"_acme-challenge.{HOST}", "TXT") == []
    assert server.secrets[HOST] not in story.issued.stdout + story.issued.stderr
    # The server did the DNS-01 work: two values added and two deleted through its httpreq
    # API, for this host's challenge name.
    audit = server.admin("audit", "--json")
    assert audit.returncode == 0, audit.stderr
    challenge = [e for e in json.loads(audit.stdout) if e["action"] == "challenge"]
    assert {e["subject"] for e in challenge} == {f"_acme-challenge.{HOST}."}, challenge
    details = [e["detail"] for e in challenge]
    assert sum(int(d.split("added=")[1].split()[0]) for d in details) == 2, details
    assert sum(int(d.split("deleted=")[1].split()[0]) for d in details) == 2, details
    assert all(d.startswith("api=httpreq ") for d in details), details
    assert [e for e in json.loads(audit.stdout) if e["action"] == "refused"] == []
    assert server.dig(HOST) == [lab.public_ip]


def test_the_page_over_https_by_name_from_the_internet(story: Story) -> None:
    assert wait_until(lambda: story.server.dig(HOST) == [story.lab.public_ip], 30)
    body, _, remote = fetch_by_name(story)
    assert body.rstrip("\n") == PAGE.rstrip("\n")
    assert remote == story.lab.public_ip  # resolved through homeport's DNS to the router
    # Only pebble's root makes the chain trusted: with another CA file curl refuses (60).
    untrusted = curl(story.lab, "inet", "--cacert", str(story.pebble.api_ca), f"https://{HOST}/")
    assert untrusted.returncode == 60, untrusted.stderr


def test_an_http2_call_reaches_the_h2c_upstream_through_caddy(story: Story) -> None:
    # What a gRPC client does: HTTP/2 over TLS (ALPN h2) to Caddy, h2c from Caddy on. The
    # upstream names the protocol its request arrived in.
    body, version, remote = fetch_by_name(story, "--http2", port=GRPC_PORT)
    assert body == "h2c via HTTP/2.0"
    assert version == "2"  # the client's own hop was HTTP/2 too
    assert remote == story.lab.public_ip


def test_doctor_says_the_tls_hop_is_ok(story: Story) -> None:
    lab, server = story.lab, story.server
    fetch_by_name(story)  # Caddy listens and 443 is mapped
    result = lab.homeport(
        "home",
        *("doctor", f"{HOST}:{HTTPS_PORT}", "--server", server.url, "--login", HOST),
        *("--password-file", str(server.secret_file()), "--gateway", lab.router_lan_ip),
        "--json",
        timeout=120,
    )
    assert result.stdout, result.stderr
    checks = json.loads(result.stdout)["checks"]
    tls = [c for c in checks if c["hop"] == "tls"]
    assert tls, json.dumps(checks, indent=1)
    assert [c["verdict"] for c in tls] == ["ok"] * len(tls), json.dumps(tls, indent=1)
    assert result.returncode == 0, json.dumps(checks, indent=1)
