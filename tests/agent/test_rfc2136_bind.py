"""`homeport agent run --once` with an RFC 2136 provider changes the record in a real BIND 9.

named is started by the test from its own temp directory (the same BIND the provider tests
use, tests/providers/dns_peers.py), listening only on 127.0.0.1 at a free port, with TSIG
keys allowed to update the zone; dig checks the answer.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, homeport_env
from tests.providers.dns_peers import KEYS, NAMED, ZONE, dig, free_port, running, write_bind_config

pytestmark = pytest.mark.peer

KEY = "key-hmac-sha256"
SECRET = KEYS[KEY][1]


@pytest.fixture
def named(tmp_path: Path) -> Iterator[int]:
    directory = tmp_path / "named"
    directory.mkdir()
    port = free_port()
    config = write_bind_config(directory, port)
    with running([NAMED, "-g", "-4", "-n", "1", "-c", str(config)], port, directory / "log"):
        yield port


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
key_name = "{KEY}"
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
    assert dig(named, f"home.{ZONE}", "A") == ["203.0.113.21"]
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
    assert dig(named, f"home.{ZONE}", "A") == ["203.0.113.21"]
