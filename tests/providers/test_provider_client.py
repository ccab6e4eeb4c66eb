"""The provider I/O shell: transport errors, timeouts, TLS, redirects, dry-run, lazy imports."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from homeport import providers
from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.errors import TransportError
from homeport.io.provider_client import render_flow_dry_run, run_flow, update_hosts
from homeport.providers.base import Flow, HttpExchange, Provider
from tests.fakes.base import FakeServer, text
from tests.fakes.duckdns import DuckDNSFake
from tests.fakes.tls import make_certificate, server_context
from tests.helpers import homeport_env

TOKEN = "duck-token-1234567890-abcdef"
HOST = HostUpdate("myhome.duckdns.org", IPv4Address("192.0.2.7"))


def duckdns(url: str) -> Provider:
    cls = providers.get("duckdns")
    return cls(cls.Settings(server=url, token=TOKEN))


def free_loopback_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: connecting is refused


def test_refused_connection_is_a_transport_error_without_secrets() -> None:
    url = free_loopback_url()

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await run_flow(duckdns(url).update([HOST]), session, timeout=5)

    with pytest.raises(TransportError) as caught:
        asyncio.run(main())
    assert caught.value.message.startswith(f"GET {url}: cannot connect")
    assert TOKEN not in caught.value.message
    assert "/update" not in caught.value.message


class SlowFake(FakeServer):
    """Answers only when released: the client's timeout fires first."""

    def routes(self, router: web.UrlDispatcher) -> None:
        self.release = asyncio.Event()
        router.add_get("/update", self.update)

    async def update(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return text("OK")


def test_timeout_becomes_retry_for_every_host() -> None:
    async def main() -> list[UpdateResult]:
        async with SlowFake() as fake, aiohttp.ClientSession() as session:
            hosts = [HOST, HostUpdate("b.duckdns.org", IPv4Address("192.0.2.8"))]
            try:
                return await update_hosts(duckdns(fake.url), hosts, session, timeout=0.3)
            finally:
                fake.release.set()

    results = asyncio.run(main())
    assert [(r.status, r.code) for r in results] == [(Status.RETRY, "transport")] * 2
    assert "no answer within 0.3 s" in results[0].message


class RedirectFake(FakeServer):
    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/update", self.update)

    async def update(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.2:9/steal")


def test_redirects_are_not_followed() -> None:
    async def main() -> list[UpdateResult]:
        async with RedirectFake() as fake, aiohttp.ClientSession() as session:
            results = await run_flow(duckdns(fake.url).update([HOST]), session, timeout=5)
            assert len(fake.requests) == 1
            return results

    [result] = asyncio.run(main())
    assert (result.status, result.code) == (Status.FATAL, "HTTP 302")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_https_is_verified(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate

    async def main() -> tuple[Status, str]:
        tls_fake = DuckDNSFake(TOKEN, {"myhome"})
        tls_fake.ssl_context = server_context(cert, key)
        async with tls_fake as fake:
            # The system trust store does not know our certificate: refused.
            async with aiohttp.ClientSession() as session:
                with pytest.raises(TransportError, match="TLS failure"):
                    await run_flow(duckdns(fake.url).update([HOST]), session, timeout=5)
            assert fake.requests == []
            # Trusting it, the same flow goes through over TLS.
            trust = ssl.create_default_context(cafile=str(cert))
            connector = aiohttp.TCPConnector(ssl=trust)
            async with aiohttp.ClientSession(connector=connector) as session:
                [result] = await run_flow(duckdns(fake.url).update([HOST]), session, timeout=5)
            assert fake.requests[0].params["token"] == TOKEN
            return result.status, result.code

    assert asyncio.run(main()) == (Status.GOOD, "good")


def test_dry_run_stops_where_no_example_reply_is_given() -> None:
    def flow() -> Flow:
        yield HttpExchange("GET", "https://example.invalid/one", secrets=("s3cr3t",))
        yield HttpExchange("GET", "https://example.invalid/two")
        return []

    assert render_flow_dry_run(flow()) == ["GET https://example.invalid/one"]


def test_configuring_one_provider_loads_only_its_dependencies() -> None:
    code = (
        "import sys\n"
        "from homeport import providers\n"
        "from homeport.io import provider_client\n"
        "providers.get('duckdns'); providers.get('cloudflare'); providers.get('dyn')\n"
        "print(sorted(m for m in ('dns', 'aiohttp', 'defusedxml') if m in sys.modules))\n"
        "providers.get('nsupdate'); providers.get('namecheap')\n"
        "print(sorted(m for m in ('dns', 'defusedxml') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=homeport_env(), capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.splitlines() == ["[]", "['dns']"]


class EchoFake(FakeServer):
    """A provider that quotes the request back in its error (some do)."""

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/update", self.update)

    async def update(self, request: web.Request) -> web.Response:
        return text(f"bad request {request.query_string}")


def test_a_credential_echoed_by_the_provider_is_redacted_from_results() -> None:
    async def main() -> list[UpdateResult]:
        async with EchoFake() as fake, aiohttp.ClientSession() as session:
            return await run_flow(duckdns(fake.url).update([HOST]), session, timeout=5)

    [result] = asyncio.run(main())
    assert result.status is Status.RETRY
    assert "token=[redac" in result.message  # redacted before the message was cut short
    assert all(TOKEN[:n] not in result.message for n in range(4, len(TOKEN) + 1))
