"""What every provider fake shares: an aiohttp app on 127.0.0.1:0 that records requests.

A fake follows its provider's documented contract (auth, parameters, exact
answers). Tests steer it with :meth:`FakeServer.respond` ("give this documented
answer next") and read :attr:`FakeServer.requests` to check what was sent.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl, unquote

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it."""

    method: str
    path: str
    raw_query: str
    query: tuple[tuple[str, str], ...]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def basic(self) -> tuple[str, str] | None:
        """(user, password) of a Basic Authorization header, user ``%XX``-decoded."""
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return unquote(user), password

    @property
    def raw_basic_user(self) -> str | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        return base64.b64decode(value[6:]).decode().partition(":")[0]


def text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain")


def as_json(value: object, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)


class FakeServer:
    """Base of the fakes; subclasses add routes in :meth:`routes`."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._next: list[str] = []
        self.app = web.Application(middlewares=[self._record])
        self.routes(self.app.router)
        self._runner: web.AppRunner | None = None
        self.url = ""
        # Set before start() to serve HTTPS (tests with real clients that insist on TLS).
        self.ssl_context: ssl.SSLContext | None = None

    def routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def respond(self, *outcomes: str) -> None:
        """Give these documented answers to the next requests, in order."""
        self._next.extend(outcomes)

    def forced(self) -> str | None:
        """The answer a test asked for, if any (consumed)."""
        return self._next.pop(0) if self._next else None

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Seen(
                request.method,
                request.path,
                request.query_string,
                tuple(parse_qsl(request.query_string, keep_blank_values=True)),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        return await handler(request)

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"{'https' if self.ssl_context else 'http'}://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
