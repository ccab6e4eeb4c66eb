"""The host page's certificate snippets, used as the page shows them, by real clients:
certbot's rfc2136 credentials file (with a TSIG key made on the page) and lego's httpreq
settings, each getting a certificate for NAME and *.NAME from pebble through the server.
"""

from __future__ import annotations

import html
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pebble import running_pebble
from tests.server.challenge_helpers import txt
from tests.server.conftest import ServerProc
from tests.server.test_acme_peers import CLIENT_LIMIT, _lego, _names_in
from tests.server.web.dash_http import PASSWORD, add_user, csrf_of, get, login, post

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pebble", "lego", "certbot", "openssl")),
    reason="needs Debian's pebble, lego, certbot (see scripts/debian-test-packages.txt)",
)

ZONE = "dyn.example.net"
NAME = f"home.{ZONE}"


def _snippet(page: str, title: str) -> str:
    found = re.search(rf'<pre id="snippet-{re.escape(title)}" tabindex="0">(.*?)</pre>', page, re.S)
    assert found is not None, title
    return html.unescape(found.group(1))


def test_certbot_and_lego_with_the_pages_snippets(server: ServerProc, tmp_path: Path) -> None:
    add_user(server, "alice")
    _, _, session = login(server.url, "alice", PASSWORD)
    _, page = get(server.url, "/dash/hosts", session)
    status, page = post(
        server.url, "/dash/hosts", session, {"csrf": csrf_of(page), "label": "home", "zone": ZONE}
    )
    assert status == 201
    lego = _snippet(page, "lego-httpreq")  # the secret is filled in on this page only
    env = dict(word.split("=", 1) for word in shlex.split(lego.replace("\\\n", " ")) if "=" in word)
    assert env["HTTPREQ_USERNAME"] == NAME
    status, page = post(server.url, f"/dash/hosts/{NAME}/tsig", session, {"csrf": csrf_of(page)})
    assert status == 200
    credentials = tmp_path / "homeport.ini"
    credentials.write_text(_snippet(page, "certbot-rfc2136"))
    os.chmod(credentials, 0o600)
    assert f"dns_rfc2136_port = {server.dns[1]}" in credentials.read_text()
    # Later visits show the key's name, never its secret.
    _, later = get(server.url, f"/dash/hosts/{NAME}", session)
    assert "dns_rfc2136_secret = YOUR-TSIG-SECRET" in _snippet(later, "certbot-rfc2136")

    base = tmp_path / "certbot"
    with running_pebble(tmp_path / "pebble", server.dns[1]) as pebble:
        cert = _lego(pebble, server, tmp_path, "httpreq", env)
        assert _names_in(cert) == {NAME, f"*.{NAME}"}
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
    assert _names_in(base / "config" / "live" / NAME / "fullchain.pem") == {NAME, f"*.{NAME}"}
    assert txt(server, f"_acme-challenge.{NAME}") == []
    audit = server.admin_json("audit")
    assert isinstance(audit, list)
    assert any(e["action"] == "host tsig" and e["actor"] == "user:alice" for e in audit)
