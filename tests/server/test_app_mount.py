"""The HTTP app is its APIs mounted over one context: the same routes as before the split,
and a new API is one module plus one entry in ``APIS`` (in-process; every route is also
exercised against the server process by the API tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import prometheus_client
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from homeport.core.zone import Catalog
from homeport.server import app as app_module
from homeport.server.app import build_app, build_metrics_app
from homeport.server.config import ServerConfig
from homeport.server.context import ApiContext
from homeport.server.service import DdnsService
from homeport.server.store import Store

PUBLIC_ROUTES = {
    ("GET", "/nic/update"),
    ("GET", "/v3/update"),
    ("GET", "/update"),
    ("GET", "/checkip"),
    ("GET", "/"),
    ("POST", "/probe"),
    ("GET", "/healthz"),
    # lego's httpreq provider
    ("POST", "/present"),
    ("POST", "/cleanup"),
    # acme-dns's API
    ("POST", "/register"),
    ("DELETE", "/register"),
    ("POST", "/update"),
    ("GET", "/health"),
}
METRICS = {("GET", "/metrics")}


def routes(app: web.Application) -> set[tuple[str, str]]:
    # aiohttp adds HEAD beside every GET: not a route of ours.
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def with_context(data: Path, body: Callable[[ApiContext], Awaitable[None]]) -> None:
    async def go() -> None:
        store = await Store.open(data)
        config = ServerConfig.build({"data": data})
        registry = prometheus_client.CollectorRegistry()
        ctx = ApiContext(DdnsService(store, Catalog()), config, registry)
        try:
            await body(ctx)
        finally:
            await ctx.close()
            await store.close()

    asyncio.run(go())


def test_the_apps_mount_every_api(tmp_path: Path) -> None:
    async def body(ctx: ApiContext) -> None:
        assert routes(build_app(ctx)) == PUBLIC_ROUTES | METRICS
        assert routes(build_app(ctx, metrics=False)) == PUBLIC_ROUTES
        assert routes(build_metrics_app(ctx)) == METRICS | {("GET", "/healthz")}

    with_context(tmp_path, body)


def test_a_new_api_is_a_module_and_a_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def echo_routes(ctx: ApiContext) -> list[web.RouteDef]:
        async def whoami(request: web.Request) -> web.Response:
            return web.json_response({"source": str(ctx.source(request))})

        return [web.post("/whoami", whoami)]

    monkeypatch.setattr(app_module, "APIS", (*app_module.APIS, echo_routes))

    async def body(ctx: ApiContext) -> None:
        async with TestClient(TestServer(build_app(ctx))) as client:
            response = await client.post("/whoami")
            assert response.status == 200
            assert await response.json() == {"source": "127.0.0.1"}
            response = await client.get("/checkip?format=text")
            assert (await response.text()).strip() == "127.0.0.1"

    with_context(tmp_path, body)
