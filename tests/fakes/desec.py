"""update.dedyn.io as deSEC documents it.

``GET /?hostname=NAME&myipv4=IP|preserve&myipv6=IP|preserve`` with Basic auth
(user: the domain, password: a token). 401 for a bad token, 404 ``nohost`` for
a name not in the account, 429 when throttled, 200 ``good`` otherwise. ``preserve``
keeps a family as it is; a family left out is removed (the connection
address would be used, which on loopback is never the one asked for).
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.base import FakeServer, as_json, text


class DesecFake(FakeServer):
    def __init__(self, token: str, names: set[str]) -> None:
        self.token = token
        self.records: dict[str, dict[str, str]] = {n: {} for n in names}
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/", self.update)

    async def update(self, request: web.Request) -> web.Response:
        forced = self.forced()
        basic = self.requests[-1].basic
        if basic is None or basic[1] != self.token:
            return as_json({"detail": "Invalid token."}, 401)
        if forced == "throttled":
            return as_json({"detail": "Request was throttled. Expected in 60 seconds."}, 429)
        if forced == "http500":
            return text("", 500)
        name = request.query.get("hostname", "")
        if name not in self.records:
            return text("nohost", 404)  # DRF NotFound("nohost") in the plain-text renderer
        record = self.records[name]
        for family, param in (("A", "myipv4"), ("AAAA", "myipv6")):
            value = request.query.get(param)
            if value is None:
                record.pop(family, None)
            elif value != "preserve":
                record[family] = value
        return text("good")
