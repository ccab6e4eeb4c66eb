"""A real BIND primary (RFC 2136 + TSIG) and Debian's pebble resolving through it.

BIND (a standard primary, as many users run) is the
authoritative DNS of these tests: ``homeport cert`` sets the challenge through the agent's
``rfc2136`` provider, pebble validates against BIND on loopback.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pebble import Pebble, running_pebble
from tests.providers.dns_peers import KEYS, NAMED, ZONE, free_port, running, write_bind_config

NAME = f"home.{ZONE}"
KEY = "key-hmac-sha256"


@dataclass(frozen=True)
class Lab:
    dns_port: int
    pebble: Pebble
    root: Path  # the pebble root, written to a file: what clients must trust

    def agent_toml(self, path: Path, extra: str = "") -> Path:
        algorithm, secret = KEYS[KEY]
        path.write_text(
            f"""[agent]
state_dir = "{path.parent / "state"}"

[ipv4]
allow_private = true  # 192.0.2.10 is documentation data, never connected to
[[ipv4.source]]
type = "static"
address = "192.0.2.10"

[[provider]]
protocol = "rfc2136"
label = "bind"
hosts = ["{NAME}"]
ipv6 = false
server = "127.0.0.1"
port = {self.dns_port}
zone = "{ZONE}"
key_name = "{KEY}"
key_secret = "{secret}"
key_algorithm = "{algorithm}"
{extra}"""
        )
        return path


@contextmanager
def start_bind(directory: Path) -> Iterator[int]:
    assert os.geteuid() == 0, "BIND runs as root here (CI does)"
    assert shutil.which(NAMED), "named (bind9) is needed"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_bind_config(directory, port)
    with running([NAMED, "-g", "-4", "-n", "1", "-c", str(config)], port, directory / "log"):
        yield port


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp(f"certlab-{uuid.uuid4().hex[:8]}")
    with start_bind(base / "named") as port, running_pebble(base / "pebble", port) as pebble:
        yield Lab(port, pebble, pebble.write_root())
