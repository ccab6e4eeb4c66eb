"""api.godaddy.com/v1 DNS records as GoDaddy documents them.

``PUT /v1/domains/ZONE/records/TYPE/NAME`` ``[{"data": IP, "ttl": N}]`` with
``Authorization: sso-key KEY:SECRET``; 200 with an empty body. Errors
``{"code": ..., "message": ...}``: 401 ``UNABLE_TO_AUTHENTICATE``, 404
``UNKNOWN_DOMAIN``, 422 ``INVALID_BODY`` (a TTL under 600). Steering:
``denied`` (403 ``ACCESS_DENIED``), ``invalid`` (400 ``INVALID_BODY``),
``ratelimit`` (429 ``TOO_MANY_REQUESTS``), ``http500`` (``INTERNAL_SERVER_ERROR``).
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.base import FakeServer, as_json

ERRORS = {
    "denied": (403, "ACCESS_DENIED", "Authenticated user is not allowed access"),
    "invalid": (400, "INVALID_BODY", "Request body doesn't fulfill schema"),
    "ratelimit": (429, "TOO_MANY_REQUESTS", "Too many requests received within interval"),
    "http500": (500, "INTERNAL_SERVER_ERROR", "Internal server error"),
    "unprocessable": (422, "INVALID_BODY", "Record data is not valid for type A"),
}


def gd_error(status: int, code: str, message: str) -> web.Response:
    return as_json({"code": code, "message": message}, status)


class GoDaddyFake(FakeServer):
    def __init__(self, key: str, secret: str, zones: set[str]) -> None:
        self.auth = f"sso-key {key}:{secret}"
        self.zones = zones
        self.records: dict[tuple[str, str, str], list[dict[str, object]]] = {}
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_put("/v1/domains/{zone}/records/{type}/{name}", self.put)

    async def put(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if request.headers.get("Authorization") != self.auth:
            return gd_error(401, "UNABLE_TO_AUTHENTICATE", "Unauthorized : Could not authenticate")
        if forced in ERRORS:
            return gd_error(*ERRORS[forced])
        m = request.match_info
        if m["zone"] not in self.zones:
            return gd_error(404, "UNKNOWN_DOMAIN", "The given domain is not registered")
        body = await request.json()
        if any(int(r.get("ttl", 600)) < 600 for r in body):
            return gd_error(422, "INVALID_BODY", "ttl must be at least 600")
        self.records[(m["zone"], m["type"], m["name"])] = body
        return web.Response(status=200)
