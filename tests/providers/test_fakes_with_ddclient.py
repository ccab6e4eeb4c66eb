"""The fakes hold up against an independent client: real ddclient 3.10 updates through them.

And the same ddclient.conf options, read by our providers (``settings_from_ddclient``),
make the same change through a fresh fake: homeport is a drop-in for these lines.

Each fake follows its provider's documented contract; if ddclient (which was
written against the real services) succeeds against it and the fake recorded
the change, the fake is no private invention of ours. ddclient insists on
HTTPS for most protocols, so the fakes serve TLS with a throw-away certificate
that ddclient is told to trust (``ssl_ca_file``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from homeport import providers
from homeport.agent import publish
from homeport.core.update import HostUpdate, Status
from tests.fakes.base import FakeServer
from tests.fakes.cloudflare import CloudflareFake
from tests.fakes.duckdns import DuckDNSFake
from tests.fakes.dyndns2 import Dyndns2Fake
from tests.fakes.freedns import FreeDNSFake
from tests.fakes.gandi import GandiFake
from tests.fakes.godaddy import GoDaddyFake
from tests.fakes.namecheap import NamecheapFake
from tests.fakes.tls import make_certificate, server_context

pytestmark = pytest.mark.peer

IP = "198.51.100.123"
PW = "Pw-0123456789"


@dataclass(frozen=True)
class Case:
    fake: Callable[[], FakeServer]
    # ddclient.conf lines after the globals; {host} is the fake's host:port
    config: str
    host: str
    # did the fake record the update?
    check: Callable[[FakeServer], bool]


def _records(fake: FakeServer) -> object:
    return fake.records  # type: ignore[attr-defined]


CASES = {
    "dyndns2": Case(
        lambda: Dyndns2Fake(credentials={"bob": PW}, records={"home.example.com": {}}),
        f"protocol=dyndns2, server={{host}}, login=bob, password={PW}",
        "home.example.com",
        lambda f: _records(f) == {"home.example.com": {"A": IP}},
    ),
    "noip": Case(
        lambda: Dyndns2Fake(credentials={"bob": PW}, records={"home.ddns.net": {}}),
        f"protocol=noip, server={{host}}, login=bob, password={PW}",
        "home.ddns.net",
        lambda f: _records(f) == {"home.ddns.net": {"A": IP}},
    ),
    "ovh": Case(
        lambda: Dyndns2Fake(
            credentials={"example.com-home": PW},
            records={"home.example.com": {}},
            auth_status=401,
            required={"system": "dyndns"},
        ),
        f"protocol=ovh, server={{host}}, login=example.com-home, password={PW}",
        "home.example.com",
        lambda f: _records(f) == {"home.example.com": {"A": IP}},
    ),
    "duckdns": Case(
        lambda: DuckDNSFake(PW, {"myhome"}),
        f"protocol=duckdns, server={{host}}, password={PW}",
        "myhome",
        lambda f: _records(f) == {"myhome": {"A": IP}},
    ),
    "freedns": Case(
        lambda: FreeDNSFake("alice", PW, {("home.mooo.com", "A"): "192.0.2.1"}),
        f"protocol=freedns, server={{host}}, login=alice, password={PW}",
        "home.mooo.com",
        lambda f: _records(f) == {("home.mooo.com", "A"): IP},
    ),
    "cloudflare": Case(
        lambda: _cloudflare(),
        f"protocol=cloudflare, server={{host}}/client/v4, zone=example.com, login=token, "
        f"password={PW}",
        "home.example.com",
        lambda f: [r["content"] for r in _records(f).values()] == [IP],  # type: ignore[attr-defined]
    ),
    "namecheap": Case(
        lambda: NamecheapFake("example.com", PW, {"www"}),
        f"protocol=namecheap, server={{host}}, login=example.com, password={PW}",
        "www.example.com",
        lambda f: _records(f) == {"www": IP},
    ),
    "godaddy": Case(
        lambda: GoDaddyFake("KEY", PW, {"example.com"}),
        f"protocol=godaddy, server={{host}}/v1/domains, zone=example.com, login=KEY, password={PW}",
        "cam.example.com",
        lambda f: [r[0]["data"] for r in _records(f).values()] == [IP],  # type: ignore[attr-defined]
    ),
    "gandi": Case(
        lambda: GandiFake(PW, {"example.fr"}, scheme="Apikey"),
        f"protocol=gandi, server={{host}}, zone=example.fr, password={PW}",
        "home.example.fr",
        lambda f: f.rrsets[("example.fr", "home", "A")]["rrset_values"] == [IP],  # type: ignore[attr-defined]
    ),
}


def _cloudflare() -> CloudflareFake:
    fake = CloudflareFake(PW, {"example.com": "zone1"})
    fake.add("zone1", type="A", name="home.example.com", content="192.0.2.1")
    return fake


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


async def run_ddclient(config: Path, cache: Path, ca: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "ddclient", "-foreground", "-daemon=0", "-force", "-verbose", "-noquiet",
        "-file", str(config), "-cache", str(cache), "-ssl_ca_file", str(ca),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, out.decode(errors="replace")


@pytest.mark.parametrize("protocol", list(CASES))
def test_ddclient_updates_through_the_fake(
    protocol: str, tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    case = CASES[protocol]
    cert, key = certificate
    fake = case.fake()
    fake.ssl_context = server_context(cert, key)

    async def main() -> tuple[int, str]:
        async with fake:
            hostport = fake.url.removeprefix("https://")
            config = tmp_path / "ddclient.conf"
            config.write_text(
                "daemon=0\nssl=yes\nuse=ip, ip=" + IP + "\n"
                + case.config.format(host=hostport) + "\n" + case.host + "\n"
            )  # fmt: skip
            os.chmod(config, 0o600)
            return await run_ddclient(config, tmp_path / "cache", cert)

    code, output = asyncio.run(main())
    assert fake.requests, f"ddclient sent nothing:\n{output}"
    assert case.check(fake), f"the fake saw no update:\n{output}"
    assert "SUCCESS" in output, output
    assert code == 0


def ddclient_options(line: str) -> dict[str, str]:
    return dict(item.strip().split("=", 1) for item in line.split(","))  # type: ignore[misc]


@pytest.mark.parametrize("protocol", list(CASES))
def test_our_provider_reads_the_same_lines_and_makes_the_same_change(
    protocol: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[protocol]
    cert, key = certificate
    fake = case.fake()
    fake.ssl_context = server_context(cert, key)
    # The shipped runner verifies against the default trust store; OpenSSL reads
    # SSL_CERT_FILE when it loads that store, as it would for a user's private CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))

    async def main() -> list[Status]:
        async with fake:
            options = ddclient_options(case.config.format(host=fake.url.removeprefix("https://")))
            cls = providers.get(options.pop("protocol"))
            provider = cls(cls.settings_from_ddclient({"ssl": "yes", **options}))
            flow = provider.update([HostUpdate(case.host, IPv4Address(IP))])
            results = await publish.run(flow, time_limit=10)
            return [r.status for r in results]

    assert asyncio.run(main()) == [Status.GOOD]
    assert case.check(fake)
