"""Real ACME clients obtain a certificate for NAME and *.NAME from pebble through a
running ``homeport server``: certbot 2.1 with certbot-dns-rfc2136, and lego 4.9 with
its rfc2136 and httpreq providers.

Pebble validates against the server's DNS only (``-dnsserver``); lego is pointed at it
too (``--dns.resolvers``, ``--dns.disable-cp``) so no query leaves loopback. Both
values (NAME's and *.NAME's) sit at the same ``_acme-challenge`` name at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import HOMEPORT, homeport_env
from tests.pebble import Pebble, running_pebble
from tests.server.challenge_helpers import txt
from tests.server.conftest import ServerProc

NAME = "home.dyn.example.net"
CHALLENGE = f"_acme-challenge.{NAME}"
CLIENT_LIMIT = 240  # seconds for one issuance; pebble and the clients take a few here

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pebble", "lego", "certbot", "openssl")),
    reason="needs Debian's pebble, lego, certbot (see scripts/debian-test-packages.txt)",
)


def _names_in(cert: Path) -> set[str]:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {part.strip().removeprefix("DNS:") for part in out.splitlines()[-1].split(",")}


def _lego(pebble: Pebble, srv: ServerProc, tmp: Path, provider: str, env: dict[str, str]) -> Path:
    path = tmp / f"lego-{provider}"
    result = subprocess.run(
        [
            "lego",
            "--server",
            pebble.directory,
            "--email",
            "admin@example.org",
            "--accept-tos",
            "--path",
            str(path),
            "--key-type",
            "ec256",
            "--dns",
            provider,
            # Our DNS is the only resolver lego asks (and it asks no authoritative
            # server of its own finding): every query stays on loopback.
            "--dns.resolvers",
            f"{srv.dns[0]}:{srv.dns[1]}",
            "--dns.disable-cp",
            "-d",
            NAME,
            "-d",
            f"*.{NAME}",
            "run",
        ],
        capture_output=True,
        text=True,
        timeout=CLIENT_LIMIT,
        env={**pebble.client_env(), **env},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return path / "certificates" / f"{NAME}.crt"


def test_lego_httpreq(server: ServerProc, tmp_path: Path) -> None:
    secret = server.add_host(NAME)
    with running_pebble(tmp_path / "pebble", server.dns[1]) as pebble:
        cert = _lego(
            pebble,
            server,
            tmp_path,
            "httpreq",
            {
                "HTTPREQ_ENDPOINT": server.url,
                "HTTPREQ_USERNAME": NAME,
                "HTTPREQ_PASSWORD": secret,
                "HTTPREQ_POLLING_INTERVAL": "1",  # lego's own DNS check; 2 s by default
            },
        )
    assert _names_in(cert) == {NAME, f"*.{NAME}"}
    assert txt(server, CHALLENGE) == []  # lego cleaned up both values, one at a time


def test_lego_rfc2136(server: ServerProc, tmp_path: Path) -> None:
    server.add_host(NAME)
    key = server.admin_json("host", "tsig", NAME, "--algorithm", "hmac-sha512")
    assert isinstance(key, dict)
    with running_pebble(tmp_path / "pebble", server.dns[1]) as pebble:
        cert = _lego(
            pebble,
            server,
            tmp_path,
            "rfc2136",
            {
                "RFC2136_NAMESERVER": f"{server.dns[0]}:{server.dns[1]}",
                "RFC2136_TSIG_KEY": key["name"],
                "RFC2136_TSIG_SECRET": key["secret"],
                "RFC2136_TSIG_ALGORITHM": key["wire_algorithm"],
                # lego's rfc2136 provider solves NAME and *.NAME one after the other and
                # pauses RFC2136_SEQUENCE_INTERVAL (default 60 s) in between, a wait for
                # slow secondaries; homeport serves an UPDATE before answering it.
                "RFC2136_SEQUENCE_INTERVAL": "1",
                "RFC2136_POLLING_INTERVAL": "1",  # its own DNS check; 2 s by default
            },
        )
    assert _names_in(cert) == {NAME, f"*.{NAME}"}
    assert txt(server, CHALLENGE) == []


# No lego test of the acme-dns provider: Debian builds lego 4.9 without the providers
# whose Go libraries it does not package (its changelog's "nodns" list, acmedns among
# them: `lego dnshelp` knows acme-dns, `run` answers "unrecognized DNS provider"), so
# it could only ever be skipped. The requests lego's acme-dns client (goacmedns) sends,
# Go field names and all, are driven against the server in
# test_acme_challenges.py::test_acmedns_register_update_delete.


def test_certbot_dns_rfc2136(server: ServerProc, tmp_path: Path) -> None:
    server.add_host(NAME)
    key = server.admin_json("host", "tsig", NAME, "--algorithm", "hmac-sha256")
    assert isinstance(key, dict)
    credentials = tmp_path / "rfc2136.ini"
    credentials.write_text(
        f"dns_rfc2136_server = {server.dns[0]}\n"
        f"dns_rfc2136_port = {server.dns[1]}\n"
        f"dns_rfc2136_name = {key['name']}\n"
        f"dns_rfc2136_secret = {key['secret']}\n"
        "dns_rfc2136_algorithm = HMAC-SHA256\n"
    )
    os.chmod(credentials, 0o600)  # certbot warns about (and may refuse) readable secrets
    base = tmp_path / "certbot"
    with running_pebble(tmp_path / "pebble", server.dns[1]) as pebble:
        result = subprocess.run(
            [
                "/usr/bin/certbot",
                "certonly",
                "--non-interactive",
                "--agree-tos",
                "--register-unsafely-without-email",
                "--server",
                pebble.directory,
                "--config-dir",
                str(base / "config"),
                "--work-dir",
                str(base / "work"),
                "--logs-dir",
                str(base / "logs"),
                "--key-type",
                "ecdsa",
                "--dns-rfc2136",
                "--dns-rfc2136-credentials",
                str(credentials),
                # homeport answers an UPDATE only once its DNS serves it, so there is no
                # propagation to wait for; certbot's default is a blind 60 s. 1 s keeps
                # the test short.
                "--dns-rfc2136-propagation-seconds",
                "1",
                "-d",
                NAME,
                "-d",
                f"*.{NAME}",
            ],
            capture_output=True,
            text=True,
            timeout=CLIENT_LIMIT,
            env=pebble.client_env(),
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cert = base / "config" / "live" / NAME / "fullchain.pem"
    assert _names_in(cert) == {NAME, f"*.{NAME}"}
    assert txt(server, CHALLENGE) == []


def test_homeport_cert_through_the_real_server(server: ServerProc, tmp_path: Path) -> None:
    """The client side (`homeport cert issue`, the `homeport` provider) against this
    server: its httpreq calls and its own DNS check, pebble validating the same DNS."""
    secret = server.add_host(NAME)
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""[[provider]]
protocol = "homeport"
hosts = ["{NAME}"]
server = "{server.url}"
login = "{NAME}"
password = "{secret}"
dns = "{server.dns[0]}:{server.dns[1]}"
"""
    )
    with running_pebble(tmp_path / "pebble", server.dns[1]) as pebble:
        done = subprocess.run(
            [
                *HOMEPORT, "cert", "issue", NAME, "--config", str(config),
                "--acme", pebble.directory, "--ca-bundle", str(pebble.api_ca),
                "--cert-dir", str(tmp_path / "certs"),
            ],
            capture_output=True,
            text=True,
            timeout=CLIENT_LIMIT,
            env=homeport_env(),
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert _names_in(tmp_path / "certs" / NAME / "fullchain.pem") == {NAME, f"*.{NAME}"}
    assert txt(server, CHALLENGE) == []
    assert secret not in done.stdout + done.stderr
