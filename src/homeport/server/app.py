"""The server's HTTP application: every API mounted over one shared context.

Small pieces, starlette-style: each API is a module ``api_*.py`` whose
``routes(ctx)`` returns its routes; :class:`~homeport.server.context.ApiContext`
holds what they share (service and store, config, clock, login, metrics);
:mod:`homeport.core.update_plan` decides updates. Adding an API is writing its
module and naming it in :data:`APIS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from homeport.server import (
    api_acmedns,
    api_checkip,
    api_dyndns2,
    api_health,
    api_httpreq,
    api_metrics,
    api_probe,
    api_token,
)
from homeport.server.context import ApiContext

Mount = Callable[[ApiContext], Iterable[web.RouteDef]]

# The public listener's APIs (and /metrics, unless it has a listener of its own).
APIS: tuple[Mount, ...] = (
    api_dyndns2.routes,
    api_token.routes,
    api_checkip.routes,
    api_probe.routes,
    api_health.routes,
    api_httpreq.routes,
    api_acmedns.routes,
)
# Request bodies: the probe's JSON is the largest any API takes.
MAX_BODY = 64 * 1024
# The metrics listener takes no bodies at all.
MAX_METRICS_BODY = 1024


class AccessLogger(AbstractAccessLogger):
    """Method, path and status only: query strings carry tokens and must not be logged."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


class _ProtocolErrorFilter(logging.Filter):
    """aiohttp logs a malformed request with its first 100 bytes: the request line, where
    a token or secret may be. Keep one line with the client and the error's kind."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            message = record.getMessage()
            record.msg = "%s (%s %d; request not logged: it may carry a secret)"
            record.args = (message, type(exc).__name__, exc.code or 400)
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_secret_logging() -> None:
    """Keep secrets and their digests out of third-party debug logs.

    aiosqlite logs every statement with its parameters at DEBUG: token and secret
    SHA-256 digests, password hashes. Our own debug lines are enough to debug with.
    """
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ProtocolErrorFilter) for f in server_log.filters):
        server_log.addFilter(_ProtocolErrorFilter())


def mount(ctx: ApiContext, apis: Sequence[Mount], *, client_max_size: int) -> web.Application:
    app = web.Application(client_max_size=client_max_size)
    for routes in apis:
        app.add_routes(routes(ctx))
    return app


def build_app(ctx: ApiContext, *, metrics: bool = True) -> web.Application:
    """The public API; ``metrics`` False when /metrics has a listener of its own."""
    app = mount(ctx, APIS + ((api_metrics.routes,) if metrics else ()), client_max_size=MAX_BODY)
    app.on_startup.append(ctx.start)
    app.on_cleanup.append(ctx.close)
    return app


def build_metrics_app(ctx: ApiContext) -> web.Application:
    """/metrics (and /healthz) alone, for ``metrics_listen``."""
    return mount(ctx, (api_metrics.routes, api_health.routes), client_max_size=MAX_METRICS_BODY)
