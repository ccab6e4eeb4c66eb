"""A homeport server's TXT API as lego's httpreq provider speaks it (docs/cert.md).

``POST /present`` and ``POST /cleanup`` with the JSON body
``{"fqdn": "_acme-challenge.NAME.", "value": "..."}`` and HTTP Basic auth by the host's
name and secret. ``present`` adds a value beside the others at that name; ``cleanup``
deletes exactly that value. A key may touch only ``_acme-challenge.<its host>`` (and
``_acme-challenge.<sub>.<its host>``): anything else is 403. Bad credentials: 401.
Answers: 200 with an empty body on success (lego checks only the status).
"""

from __future__ import annotations

import json

from aiohttp import web

from tests.fakes.base import FakeServer, text


class HttpreqFake(FakeServer):
    def __init__(self, host: str, secret: str) -> None:
        self.host = host
        self.secret = secret
        self.txt: dict[str, set[str]] = {}
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/present", self.present)
        router.add_post("/cleanup", self.cleanup)

    async def present(self, request: web.Request) -> web.Response:
        return await self._change(request, add=True)

    async def cleanup(self, request: web.Request) -> web.Response:
        return await self._change(request, add=False)

    async def _change(self, request: web.Request, *, add: bool) -> web.Response:
        forced = self.forced()
        if forced and forced.startswith("http"):
            return text("", int(forced[4:]))
        seen = self.requests[-1]
        if seen.basic != (self.host, self.secret):
            return text("unauthorized", 401)
        try:
            body = json.loads(await request.read())
            fqdn, value = body["fqdn"], body["value"]
        except (ValueError, KeyError, TypeError):
            return text("bad request", 400)
        if not isinstance(fqdn, str) or not isinstance(value, str) or not fqdn.endswith("."):
            return text("bad request", 400)
        name = fqdn.rstrip(".").lower()
        if not (
            name == f"_acme-challenge.{self.host}"
            or (name.startswith("_acme-challenge.") and name.endswith(f".{self.host}"))
        ):
            return text("forbidden", 403)
        values = self.txt.setdefault(name, set())
        if add:
            values.add(value)
        else:
            values.discard(value)
        return text("")
