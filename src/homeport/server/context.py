"""What every HTTP API of the server shares: the service and its store, the config, the
clock, the login checks, the update metrics, and how a planned answer is written.

Each API is a module (``api_*.py``) whose ``routes(ctx)`` returns its routes;
:mod:`homeport.server.app` mounts them. Anything an API keeps for itself (its
throttle, a TLS context) it builds in ``routes``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

import prometheus_client
from aiohttp import web

from homeport.core.limits import Rate, Throttle
from homeport.core.update_plan import ApiPolicy, Reply, Stored, UpdateIntent
from homeport.errors import HomeportError, UsageError
from homeport.server.clientaddr import Address, client_address
from homeport.server.config import ServerConfig
from homeport.server.login import Login
from homeport.server.service import DdnsService, UpdateOutcome

log = logging.getLogger(__name__)

TEXT = "text/plain"

K = TypeVar("K", bound=Hashable)


class ApiContext:
    """One per server; every API's handlers hold it."""

    def __init__(
        self,
        service: DdnsService,
        config: ServerConfig,
        registry: prometheus_client.CollectorRegistry,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.config = config
        self.registry = registry
        self.clock = clock
        self.limits_on = config.limits.enabled
        self.login = Login(service, config.limits, registry, clock)
        self.policy = ApiPolicy(config.require_user_agent, self.login.retry_after)
        # The per-host update rate (limits.host_requests_per_minute) for challenge
        # writes, shared by httpreq, acme-dns and RFC 2136 UPDATE: an issuance for
        # NAME and *.NAME takes 4 writes, well inside the burst.
        limits = config.limits
        self.challenge_throttle = Throttle(Rate(limits.host_requests_per_minute, limits.host_burst))
        self.updates = prometheus_client.Counter(
            "homeport_updates",
            "Update requests by API and result code",
            ["api", "result"],
            registry=registry,
        )

    async def start(self, app: web.Application | None = None) -> None:
        await self.login.start()

    async def close(self, app: web.Application | None = None) -> None:
        await self.login.close()

    def source(self, request: web.Request) -> Address | None:
        """The client's address (X-Forwarded-For only from trusted proxies)."""
        return client_address(
            request.remote,
            request.headers.getall("X-Forwarded-For", []),
            self.config.trusted_proxies,
        )

    def admit(self, throttle: Throttle, now: float) -> Callable[[K], bool]:
        """``throttle``'s verdict at ``now``; everything passes with limits off."""
        if not self.limits_on:
            return lambda _key: True
        return lambda key: throttle.allow(key, now)

    def count(self, api: str, results: Iterable[str]) -> None:
        for result in results:
            self.updates.labels(api, result).inc()

    def respond(self, api: str, reply: Reply) -> web.Response:
        """Write a planned answer (text/plain) and count its results."""
        self.count(api, reply.results)
        return web.Response(
            text=reply.body, status=reply.status, content_type=TEXT, headers=dict(reply.headers)
        )

    async def store(self, intents: Sequence[UpdateIntent]) -> list[Stored]:
        """Store ``intents`` concurrently (one batch for the store task); what each became."""
        results = await asyncio.gather(
            *(self.service.update(intent) for intent in intents), return_exceptions=True
        )
        return [_stored(result) for result in results]


def _stored(result: UpdateOutcome | BaseException) -> Stored:
    if isinstance(result, UsageError):
        return Stored.REFUSED
    if isinstance(result, HomeportError):
        log.error("update not stored: %s", result)
        return Stored.FAILED
    if isinstance(result, BaseException):
        raise result  # a bug: let aiohttp answer 500 and log it
    if result.host is None:
        return Stored.GONE
    return Stored.CHANGED if result.changed else Stored.UNCHANGED
