"""`homeport agent run --once` with an RFC 2136 provider changes the record in a real BIND 9.

named is started by the test from its own temp directory, listening only on 127.0.0.1
at a free port, with a TSIG key allowed to update the zone; dig checks the answer.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, homeport_env

pytestmark = pytest.mark.peer

ZONE = "example.com"
SECRET = base64.b64encode(hashlib.sha256(b"homeport agent test key").digest()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def named(tmp_path: Path) -> Iterator[int]:
    directory = tmp_path / f"named-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    port = free_port()
    (directory / "zone.db").write_text(
        f"$TTL 60\n@ IN SOA ns.{ZONE}. admin.{ZONE}. 1 3600 600 86400 60\n"
        f"@ IN NS ns.{ZONE}.\nns IN A 192.0.2.53\nhome IN A 192.0.2.1\n"
    )
    (directory / "bind.keys").write_text("")
    config = directory / "named.conf"
    config.write_text(
        f"""options {{
    directory "{directory}";
    pid-file "{directory}/named.pid";
    session-keyfile "{directory}/session.key";
    managed-keys-directory "{directory}";
    bindkeys-file "{directory}/bind.keys";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
key "agent-key" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
zone "{ZONE}" {{ type primary; file "{directory}/zone.db"; allow-update {{ key "agent-key"; }}; }};
"""
    )
    log = (directory / "named.log").open("w")
    process = subprocess.Popen(
        ["/usr/sbin/named", "-g", "-4", "-n", "1", "-c", str(config)], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while dig(port, f"home.{ZONE}") != ["192.0.2.1"]:
            assert process.poll() is None, (directory / "named.log").read_text()
            assert time.monotonic() < deadline, "named did not come up"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def dig(port: int, name: str, rdtype: str = "A") -> list[str]:
    result = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), name, rdtype, "+short", "+time=1", "+tries=1"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.split() if result.returncode == 0 else ["unreachable"]


def test_once_updates_bind_through_rfc2136(tmp_path: Path, named: int) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[[ipv4.source]]
type = "static"
address = "203.0.113.21"
[[provider]]
protocol = "rfc2136"
hosts = ["home.{ZONE}"]
server = "127.0.0.1"
port = {named}
zone = "{ZONE}"
key_name = "agent-key"
key_secret_env = "AGENT_TSIG"
key_algorithm = "hmac-sha256"
"""
    )
    command = [
        sys.executable,
        "-m",
        "homeport",
        "agent",
        "run",
        "--once",
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path / "state"),
    ]
    env = homeport_env({"AGENT_TSIG": SECRET})
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert dig(named, f"home.{ZONE}") == ["203.0.113.21"]
    assert SECRET not in result.stderr
    # A wrong key: BIND refuses, the host is stopped, nothing changes.
    config.write_text(
        config.read_text().replace('address = "203.0.113.21"', 'address = "203.0.113.22"')
    )
    bad = homeport_env({"AGENT_TSIG": base64.b64encode(b"x" * 32).decode()})
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env=bad, timeout=60, check=False
    )
    assert result.returncode == 69
    assert dig(named, f"home.{ZONE}") == ["203.0.113.21"]
