"""`homeport cert issue` through the `homeport` provider (lego's httpreq shape) to pebble.

The homeport server's side is a pair of fakes sharing one TXT table: the httpreq fake
(``POST /present``, ``/cleanup``, Basic auth by host name and secret) and a small
authoritative DNS that serves that table, which pebble validates against. The real
server's own side is tested against the real server process elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from cryptography import x509

from tests.fakes.httpreq import HttpreqFake
from tests.fakes.txt_dns import TxtDns
from tests.helpers import run_homeport
from tests.pebble import running_pebble

pytestmark = pytest.mark.peer

NAME = "home.dyn.example.net"
SECRET = "host-secret-0123456789abcdef"


class Fakes:
    """The httpreq fake and the TXT DNS on one event loop in a thread of this process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.http = HttpreqFake(NAME, SECRET)
        self.dns = TxtDns(self.http.txt)

    def run(self, coroutine: object) -> object:
        future: Future[object] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return future.result(timeout=30)

    def __enter__(self) -> Fakes:
        self.thread.start()
        self.run(self.http.start())
        self.run(self.dns.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.http.stop())
        self.loop.call_soon_threadsafe(self.dns.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with Fakes() as running:
        yield running


def test_issue_through_the_homeport_provider(fakes: Fakes, tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""[[provider]]
protocol = "homeport"
hosts = ["{NAME}"]
server = "{fakes.http.url}"
login = "{NAME}"
password = "{SECRET}"
dns = "127.0.0.1:{fakes.dns.port}"
"""
    )
    with running_pebble(tmp_path / "pebble", fakes.dns.port) as pebble:
        done = run_homeport(
            "cert", "issue", NAME, "--config", str(config), "--acme", pebble.directory,
            "--ca-bundle", str(pebble.api_ca), "--cert-dir", str(tmp_path / "certs"),
            timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fullchain = (tmp_path / "certs" / NAME / "fullchain.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(fullchain)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(san.value.get_values_for_type(x509.DNSName)) == sorted([NAME, f"*.{NAME}"])
    calls = [(r.method, r.path) for r in fakes.http.requests]
    assert calls == [("POST", "/present")] * 2 + [("POST", "/cleanup")] * 2
    # Both values were live at once (NAME and *.NAME share one name), then both removed.
    assert len({r.json["value"] for r in fakes.http.requests}) == 2
    assert fakes.http.txt == {f"_acme-challenge.{NAME}": set()}
    assert all(r.basic == (NAME, SECRET) for r in fakes.http.requests)
    assert SECRET not in done.stdout + done.stderr
