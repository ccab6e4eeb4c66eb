"""``homeport server run``: the store, the DNS listeners and the HTTP API in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import signal
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import prometheus_client
from aiohttp import web

from homeport.core.hostport import parse_hostport
from homeport.core.xfr_journal import Journal
from homeport.core.zone import Catalog
from homeport.errors import ConfigError, StoreError
from homeport.io.dns_server import DnsServer, start_dns
from homeport.server.app import AccessLogger, build_app, build_metrics_app, quiet_secret_logging
from homeport.server.config import ServerConfig
from homeport.server.context import ApiContext
from homeport.server.dns_metrics import DnsStatsCollector
from homeport.server.dns_update import UpdateHandler
from homeport.server.httpguard import HttpGuard
from homeport.server.relay.hub import Relay
from homeport.server.service import DdnsService
from homeport.server.store import Store
from homeport.server.web import build_dashboard
from homeport.server.xfr import HiddenPrimary

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    """What :func:`start` brought up; :meth:`close` takes it down in reverse order."""

    store: Store
    service: DdnsService
    runner: web.AppRunner
    dns: list[DnsServer]
    http_addresses: list[tuple[str, int]] = field(default_factory=list)
    https_addresses: list[tuple[str, int]] = field(default_factory=list)
    listeners: list[asyncio.Server] = field(default_factory=list)
    metrics_runner: web.AppRunner | None = None
    primary: HiddenPrimary | None = None
    relay: Relay | None = None

    def describe(self) -> dict[str, object]:
        relay = {"relay": self.relay.describe()} if self.relay is not None else {}
        return {
            **relay,
            "http": [f"{h}:{p}" for h, p in self.http_addresses],
            "https": [f"{h}:{p}" for h, p in self.https_addresses],
            "metrics": [
                f"{a[0]}:{a[1]}"
                for a in (self.metrics_runner.addresses if self.metrics_runner else [])
            ],
            "dns": [f"{d.udp_address[0]}:{d.udp_address[1]}" for d in self.dns],
            "data": str(self.store.data_dir),
            "database": self.store.location,
            # Which loop really runs ("uvloop" or "asyncio"): tests on both loops check it.
            "loop": _loop_name(),
        }

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.close()
        if self.metrics_runner is not None:
            await self.metrics_runner.cleanup()
        for listener in self.listeners:
            listener.close()  # stop accepting; aiohttp then ends the open connections
        await self.runner.cleanup()
        for listener in self.listeners:
            await listener.wait_closed()
        for server in self.dns:
            await server.close()
        if self.primary is not None:
            await self.primary.close()
        await self.service.stop()
        await self.store.close()


async def start(config: ServerConfig) -> RunningServer:
    quiet_secret_logging()
    store = await Store.open(config.data, database=config.database)
    catalog = Catalog()
    catalog.journal = Journal(config.transfer.journal_steps)
    service = DdnsService(store, catalog)
    primary = HiddenPrimary(
        store,
        catalog,
        catalog.journal,
        config.transfer.catalog_zone,
        check_source=config.transfer.check_source,
        keyring=service.keyring,
    )
    service.after_reload.append(primary.refresh)
    catalog.signed = primary.transfers.signed
    try:
        await store.claim_server()
        if config.relay.enabled:
            # No session outlives the process that held it: nothing is relayed at start.
            await store.clear_relays()
        await service.start()
        await primary.refresh()
    except BaseException:
        await store.close()
        raise
    dns: list[DnsServer] = []
    rrl = config.limits.enabled and config.limits.dns_rrl
    registry = prometheus_client.CollectorRegistry()
    runner: web.AppRunner | None = None
    listeners: list[asyncio.Server] = []
    metrics_runner: web.AppRunner | None = None
    relay: Relay | None = None
    api = ApiContext(service, config, registry)
    # Signed messages that are not the secondaries' (NOTAUTH from the transfer side),
    # and UPDATEs: checked against the hosts' keys (see server/dns_update.py).
    slow = UpdateHandler(service, api, asyncio.get_running_loop())
    try:
        for listen in config.dns:
            host, port = parse_hostport(listen)
            dns.append(
                await start_dns(
                    catalog, host, port, rrl=rrl, transfer=primary.transfers.respond, slow=slow
                )
            )
        registry.register(DnsStatsCollector(*(d.stats for d in dns)))
        app = build_app(api, metrics=not config.metrics_listen)
        app.add_subapp("/dash/", build_dashboard(api))
        limits = config.limits
        runner = web.AppRunner(
            app,
            access_log_class=AccessLogger,
            # After each response the next head must be complete within this (aiohttp's
            # default is an hour; bytes arriving do not extend it). The guard holds the
            # first request to the same deadline.
            keepalive_timeout=limits.http_request_timeout,
        )
        guard = HttpGuard(
            functools.partial(_aiohttp_protocol, runner),
            request_timeout=limits.http_request_timeout,
            per_source=limits.http_connections_per_source if limits.enabled else None,
            exempt=config.trusted_proxies,
            on_close=_closed_counter(registry),
        )
        await runner.setup()
        loop = asyncio.get_running_loop()
        addresses: list[tuple[str, int]] = []
        for listen in config.http:
            host, port = parse_hostport(listen)
            listener = await loop.create_server(guard, host, port, reuse_address=True)
            listeners.append(listener)
            addresses += _bound(listener)
        tls = _tls_context(config) if config.https else None
        tls_addresses: list[tuple[str, int]] = []
        for listen in config.https:
            host, port = parse_hostport(listen)
            listener = await loop.create_server(
                guard,
                host,
                port,
                reuse_address=True,
                ssl=tls,
                # A handshake that never completes holds a connection before the guard
                # sees it: the same deadline as for a request head.
                ssl_handshake_timeout=limits.http_request_timeout,
            )
            listeners.append(listener)
            tls_addresses += _bound(listener)
        if config.metrics_listen:
            # Scrapers only, on an address of the operator's choosing: no guard needed,
            # but the same deadline between requests.
            metrics_runner = web.AppRunner(
                build_metrics_app(api),
                access_log_class=AccessLogger,
                keepalive_timeout=limits.http_request_timeout,
            )
            await metrics_runner.setup()
            for listen in config.metrics_listen:
                host, port = parse_hostport(listen)
                await web.TCPSite(metrics_runner, host, port, reuse_address=True).start()
        if config.relay.enabled:
            relay = Relay(config.relay, config.data, service, api.login, registry)
            await relay.start()
    except (OSError, ConfigError) as exc:
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        for listener in listeners:
            listener.close()
        if runner is not None:
            await runner.cleanup()
        for d in dns:
            await d.close()
        await primary.close()
        await service.stop()
        await store.close()
        if isinstance(exc, ConfigError):
            raise
        raise StoreError(f"cannot listen: {exc.strerror or exc}") from exc
    return RunningServer(
        store,
        service,
        runner,
        dns,
        addresses,
        tls_addresses,
        listeners,
        metrics_runner,
        primary,
        relay,
    )


def _aiohttp_protocol(runner: web.AppRunner) -> asyncio.Protocol:
    """A new connection's aiohttp protocol (``web.Server`` is aiohttp's protocol factory)."""
    assert runner.server is not None
    return runner.server()


def _bound(listener: asyncio.Server) -> list[tuple[str, int]]:
    return [(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in listener.sockets]


def _closed_counter(registry: prometheus_client.CollectorRegistry) -> Callable[[str], None]:
    counter = prometheus_client.Counter(
        "homeport_http_connections_closed",
        "HTTP connections the server closed: per_source (over the cap) or request_timeout",
        ["reason"],
        registry=registry,
    )
    return lambda reason: counter.labels(reason).inc()


def _tls_context(config: ServerConfig) -> ssl.SSLContext:
    assert config.tls_cert is not None
    assert config.tls_key is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load tls_cert/tls_key: {exc}") from exc
    return context


async def serve(config: ServerConfig, announce: Callable[[RunningServer], None]) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    running = await start(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        announce(running)
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await running.close()


def run(config: ServerConfig, announce: Callable[[RunningServer], None]) -> None:
    """Blocking entry point on the event loop ``config.event_loop`` names."""
    with contextlib.suppress(KeyboardInterrupt):
        _loop_runner(config.event_loop)(serve(config, announce))


def _loop_name() -> str:
    return (
        "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
    )


def _loop_runner(choice: str) -> Callable[[Coroutine[Any, Any, None]], None]:
    """``asyncio.run`` or ``uvloop.run`` for the ``event_loop`` setting."""
    if choice == "asyncio":
        return asyncio.run
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                "event_loop = uvloop, but uvloop is not installed (pip install 'homeport[speed]')"
            ) from None
        return asyncio.run
    return uvloop.run


def ready_line(running: RunningServer) -> str:
    return "ready " + json.dumps(running.describe())
