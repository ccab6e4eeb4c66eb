"""GENA shell: SUBSCRIBE/renew/UNSUBSCRIBE with aiohttp, and a small NOTIFY listener."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from aiohttp import web

from homeport.errors import RemoteProtocolError, RouterError, TransportError
from homeport.proto import gena

SHUTDOWN_TIMEOUT = 1.0  # seconds; see NotifyListener.start


async def _send(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str]
) -> dict[str, str]:
    try:
        async with session.request(method, url, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RouterError(f"GENA {method} {url}: HTTP {response.status}", response.status)
            return dict(response.headers)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransportError(f"GENA {method} {url}: {exc!r}") from exc


async def subscribe(
    session: aiohttp.ClientSession, event_url: str, callback_url: str, duration: int
) -> gena.Subscription:
    headers = await _send(
        session, "SUBSCRIBE", event_url, gena.subscribe_headers(callback_url, duration)
    )
    return gena.parse_subscription(headers)


async def renew(
    session: aiohttp.ClientSession, event_url: str, sid: str, duration: int
) -> gena.Subscription:
    headers = await _send(session, "SUBSCRIBE", event_url, gena.renew_headers(sid, duration))
    headers.setdefault("SID", sid)
    return gena.parse_subscription(headers)


async def unsubscribe(session: aiohttp.ClientSession, event_url: str, sid: str) -> None:
    await _send(session, "UNSUBSCRIBE", event_url, gena.unsubscribe_headers(sid))


class NotifyListener:
    """An HTTP server for NOTIFY requests on ``host`` (an ephemeral port); events queue up."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.events: asyncio.Queue[gena.Notify] = asyncio.Queue()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("NOTIFY", "/{tail:.*}", self._notify)
        # Do not wait the default 60 s for a router that keeps its NOTIFY connection open.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))
            await web.SockSite(runner, sock).start()
        except OSError as exc:
            sock.close()
            await runner.cleanup()
            raise TransportError(f"cannot listen for GENA events on {self.host}: {exc}") from exc
        self._runner = runner
        port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{port}/homeport"
        return self.url

    async def _notify(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = gena.parse_notify(dict(request.headers), body)
        except RemoteProtocolError:
            return web.Response(status=400)  # UDA 1.1 §4.2.2: malformed -> 400
        self.events.put_nowait(event)
        return web.Response(status=200)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
