"""The one provider runner (agent/publish): transport errors, timeouts, TLS, redirects,
dry-run, lazy imports and secrets, over the HTTP client the agent ships."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from aiohttp import web

from homeport import providers
from homeport.agent import publish
from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.errors import TransportError
from homeport.providers.base import Flow, HttpExchange, Provider, ProviderSettings
from tests.fakes.base import FakeServer, text
from tests.fakes.duckdns import DuckDNSFake
from tests.fakes.tls import make_certificate, server_context
from tests.helpers import modules_loaded_by

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
    with pytest.raises(TransportError) as caught:
        asyncio.run(publish.run(duckdns(url).update([HOST]), time_limit=5))
    assert caught.value.message.startswith("127.0.0.1: ")
    assert TOKEN not in caught.value.message
    assert "/update" not in caught.value.message
    [result] = asyncio.run(publish.update(duckdns(url), [HOST], time_limit=5))
    assert (result.status, result.code, result.message) == (
        Status.RETRY,
        "transport",
        caught.value.message,
    )


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
        async with SlowFake() as fake:
            hosts = [HOST, HostUpdate("b.duckdns.org", IPv4Address("192.0.2.8"))]
            try:
                return await publish.update(duckdns(fake.url), hosts, time_limit=0.3)
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
        async with RedirectFake() as fake:
            results = await publish.run(duckdns(fake.url).update([HOST]), time_limit=5)
            assert len(fake.requests) == 1
            return results

    [result] = asyncio.run(main())
    assert (result.status, result.code) == (Status.FATAL, "HTTP 302")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_https_is_verified(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate

    async def main() -> tuple[Status, str]:
        tls_fake = DuckDNSFake(TOKEN, {"myhome"})
        tls_fake.ssl_context = server_context(cert, key)
        async with tls_fake as fake:
            # The system trust store does not know our certificate: refused, nothing sent.
            with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
                await publish.run(duckdns(fake.url).update([HOST]), time_limit=5)
            assert fake.requests == []
            # Trusting it (as a user would a private CA), the same flow goes through over TLS.
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            [result] = await publish.run(duckdns(fake.url).update([HOST]), time_limit=5)
            assert fake.requests[0].params["token"] == TOKEN
            return result.status, result.code

    assert asyncio.run(main()) == (Status.GOOD, "good")


class Scripted(Provider):
    """A provider whose flow is given by the test."""

    name = "scripted"
    Settings = ProviderSettings

    def __init__(self, flow: Flow) -> None:
        super().__init__(ProviderSettings())
        self.flow = flow

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        return self.flow


def test_dry_run_stops_where_no_example_reply_is_given() -> None:
    def flow() -> Flow:
        yield HttpExchange("GET", "https://example.invalid/one?k=s3cr3t", secrets=("s3cr3t",))
        yield HttpExchange("GET", "https://example.invalid/two")
        return []

    assert publish.render(Scripted(flow()), [HOST]) == [
        "GET https://example.invalid/one?k=[redacted]"
    ]


def test_a_bad_url_is_fatal_and_its_secret_is_not_quoted() -> None:
    def flow() -> Flow:
        yield HttpExchange(
            "GET", "ftp://example.invalid/?key=s3cr3t-value", secrets=("s3cr3t-value",)
        )
        return []

    [result] = asyncio.run(publish.update(Scripted(flow()), [HOST], time_limit=5))
    assert (result.status, result.code) == (Status.FATAL, "config")
    assert result.message.startswith("not an http(s) URL")
    assert "s3cr3t" not in result.message


def test_configuring_one_provider_loads_only_its_dependencies() -> None:
    http_only = (
        "from homeport import providers\n"
        "from homeport.agent import publish\n"
        "providers.get('duckdns'); providers.get('cloudflare'); providers.get('dyn')\n"
    )
    watched = ["aiohttp", "defusedxml", "dns"]
    assert modules_loaded_by(http_only, watched) == []
    with_dns = http_only + "providers.get('nsupdate'); providers.get('namecheap')\n"
    assert modules_loaded_by(with_dns, watched) == ["dns"]


class EchoFake(FakeServer):
    """A provider that quotes the request back in its error (some do)."""

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/update", self.update)

    async def update(self, request: web.Request) -> web.Response:
        return text(f"bad request {request.query_string}")


def test_a_credential_echoed_by_the_provider_is_redacted_from_results() -> None:
    async def main() -> list[UpdateResult]:
        async with EchoFake() as fake:
            return await publish.run(duckdns(fake.url).update([HOST]), time_limit=5)

    [result] = asyncio.run(main())
    assert result.status is Status.RETRY
    assert "token=[redac" in result.message  # redacted before the message was cut short
    assert all(TOKEN[:n] not in result.message for n in range(4, len(TOKEN) + 1))


def test_a_secret_in_a_provider_message_is_redacted_from_results() -> None:
    # A flow that words its result from what it sent (not from the reply) is caught too.
    def flow(url: str) -> Flow:
        reply = yield HttpExchange("GET", f"{url}/update?token={TOKEN}", secrets=(TOKEN,))
        return [UpdateResult(HOST.hostname, Status.FATAL, "badauth", f"{reply.text} for {TOKEN}")]

    async def main() -> list[UpdateResult]:
        async with EchoFake() as fake:
            return await publish.update(Scripted(flow(fake.url)), [HOST], time_limit=5)

    [result] = asyncio.run(main())
    assert result.message == "bad request token=[redacted] for [redacted]"
