"""api.gandi.net/v5/livedns as Gandi documents it.

``PUT /v5/livedns/domains/ZONE/records/NAME/TYPE`` ``{"rrset_values": [...],
"rrset_ttl": N}`` with ``Authorization: Bearer PAT`` (or ``Apikey KEY``).
201 ``{"message": "DNS Record Created"}``; errors in
``{"code", "message", "object", "cause"}``: 401 for an unknown token, 403 for a
token without rights on the domain, 404 for an unknown domain. Steering:
``forbidden``, ``invalid`` (400), ``conflict`` (409), ``ratelimit`` (429), ``http500``.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.base import FakeServer, as_json

UNAUTHORIZED = (
    "The server could not verify that you authorized to access the document you requested."
)
ERRORS = {
    "forbidden": (403, "HTTPForbidden", "Forbidden", "Access was denied to this resource."),
    "invalid": (400, "HTTPBadRequest", "Bad Request", "rrset_values: invalid value"),
    "conflict": (409, "HTTPConflict", "Conflict", "A record with that name already exists"),
    "ratelimit": (429, "HTTPTooManyRequests", "Too Many Requests", "Rate limit exceeded"),
    "http500": (500, "HTTPInternalServerError", "Internal Server Error", "Internal error"),
}


def gandi_error(status: int, obj: str, cause: str, message: str) -> web.Response:
    return as_json({"code": status, "message": message, "object": obj, "cause": cause}, status)


class GandiFake(FakeServer):
    def __init__(self, token: str, zones: set[str], scheme: str = "Bearer") -> None:
        self.auth = f"{scheme} {token}"
        self.rrsets: dict[tuple[str, str, str], dict[str, object]] = {}
        self.zones = zones
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_put("/v5/livedns/domains/{zone}/records/{name}/{type}", self.put)

    async def put(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if request.headers.get("Authorization") != self.auth:
            return gandi_error(401, "HTTPUnauthorized", "Unauthorized", UNAUTHORIZED)
        if forced in ERRORS:
            return gandi_error(*ERRORS[forced])
        m = request.match_info
        if m["zone"] not in self.zones:
            return gandi_error(404, "HTTPNotFound", "Not Found", "The resource could not be found.")
        self.rrsets[(m["zone"], m["name"], m["type"])] = await request.json()
        return as_json({"message": "DNS Record Created"}, 201)
