"""Local test services on 127.0.0.1: checkip in every shape and a counting dyndns2 endpoint."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Recorded:
    hostnames: str
    myip: str
    login: str
    password: str


@dataclass
class LocalServices:
    """checkip answers ``address`` (``/html``, ``/plain``, ``/json``), ``/liar`` answers ``lie``;
    ``/nic/update`` counts requests and answers ``code``."""

    address: str = "203.0.113.10"
    lie: str = "198.51.100.66"
    code: str = "good"
    http_status: int = 200
    updates: list[Recorded] = field(default_factory=list)
    checkips: int = 0
    webhooks: list[dict[str, object]] = field(default_factory=list)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        async def html(request: web.Request) -> web.Response:
            self.checkips += 1
            body = (
                "<html><head><title>Current IP Check</title></head>"
                f"<body>Current IP Address: {self.address}</body></html>"
            )
            return web.Response(text=body, content_type="text/html")

        async def plain(request: web.Request) -> web.Response:
            self.checkips += 1
            return web.Response(text=f"{self.address}\n")

        async def as_json(request: web.Request) -> web.Response:
            self.checkips += 1
            return web.json_response({"ip": self.address, "country": "ZZ"})

        async def liar(request: web.Request) -> web.Response:
            self.checkips += 1
            return web.Response(text=f"{self.lie}\n")

        async def broken(request: web.Request) -> web.Response:
            self.checkips += 1
            return web.Response(status=503, text="down")

        async def update(request: web.Request) -> web.Response:
            auth = request.headers.get("Authorization", "")
            login, _, password = (
                base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            )
            self.updates.append(
                Recorded(
                    request.query.get("hostname", ""),
                    request.query.get("myip", ""),
                    login,
                    password,
                )
            )
            if self.http_status != 200:
                return web.Response(status=self.http_status, text="server trouble")
            names = request.query.get("hostname", "").split(",")
            ip = request.query.get("myip", "")
            if self.code in {"good", "nochg"}:
                return web.Response(text="\n".join(f"{self.code} {ip}" for _ in names))
            return web.Response(text=self.code)

        async def hook(request: web.Request) -> web.Response:
            self.webhooks.append(await request.json())
            return web.Response(text="ok")

        async def chunked(request: web.Request) -> web.StreamResponse:
            self.checkips += 1
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for part in ("Current IP ", "Address: ", self.address, "\n"):
                await response.write(part.encode())
            await response.write_eof()
            return response

        async def moved(request: web.Request) -> web.Response:
            raise web.HTTPFound("/plain")

        async def loop(request: web.Request) -> web.Response:
            raise web.HTTPMovedPermanently("/loop")

        app = web.Application()
        app.router.add_get("/chunked", chunked)
        app.router.add_get("/moved", moved)
        app.router.add_get("/loop", loop)
        app.router.add_post("/hook", hook)
        app.router.add_get("/html", html)
        app.router.add_get("/plain", plain)
        app.router.add_get("/json", as_json)
        app.router.add_get("/liar", liar)
        app.router.add_get("/broken", broken)
        app.router.add_get("/nic/update", update)
        return app


@contextmanager
def serve(services: LocalServices) -> Iterator[LocalServices]:
    """Run ``services`` on 127.0.0.1 (ephemeral port) in a thread for the duration."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(services.app(), access_log=None)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        services.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    try:
        assert started.wait(10), "test services did not start"
        yield services
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
