"""api.porkbun.com/api/json/v3 as Porkbun documents it (DNS by name and type).

Every call is a POST whose JSON carries ``apikey`` and ``secretapikey``.
``{"status": "ERROR", "message": "Invalid API key. (002)"}`` with HTTP 400 for
wrong keys; ``Domain is not opted in to API access.`` for a domain without API
access; success is ``{"status": "SUCCESS", ...}``. Steering: ``optout``,
``http503``, ``invalid`` (400 "Invalid record content").
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, as_json


def error(message: str, status: int = 400) -> web.Response:
    return as_json({"status": "ERROR", "message": message}, status)


class PorkbunFake(FakeServer):
    def __init__(self, apikey: str, secret: str, domains: set[str]) -> None:
        self.keys = (apikey, secret)
        self.domains = domains
        self.records: list[dict[str, Any]] = []
        self._ids = itertools.count(100)
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/json/v3/dns/retrieveByNameType/{domain}/{type}/{sub:.*}", self.get)
        router.add_post("/api/json/v3/dns/editByNameType/{domain}/{type}/{sub:.*}", self.edit)
        router.add_post("/api/json/v3/dns/create/{domain}", self.create)

    def add(self, domain: str, sub: str, rdtype: str, content: str) -> None:
        name = f"{sub}.{domain}" if sub else domain
        rid = str(next(self._ids))
        record = {"id": rid, "name": name, "type": rdtype, "content": content, "ttl": "600"}
        self.records.append(record)

    async def check(self, request: web.Request) -> tuple[web.Response | None, dict[str, Any]]:
        forced = self.forced()
        body = await request.json()
        if (body.get("apikey"), body.get("secretapikey")) != self.keys:
            return error("Invalid API key. (002)"), body
        if forced == "optout" or request.match_info["domain"] not in self.domains:
            return error("Domain is not opted in to API access."), body
        if forced == "http503":
            return error("Service temporarily unavailable", 503), body
        if forced == "invalid":
            return error("Invalid record content."), body
        return None, body

    def matching(self, request: web.Request) -> list[dict[str, Any]]:
        m = request.match_info
        name = f"{m['sub']}.{m['domain']}" if m["sub"] else m["domain"]
        return [r for r in self.records if r["name"] == name and r["type"] == m["type"]]

    async def get(self, request: web.Request) -> web.Response:
        failure, _ = await self.check(request)
        return failure or as_json({"status": "SUCCESS", "records": self.matching(request)})

    async def edit(self, request: web.Request) -> web.Response:
        failure, body = await self.check(request)
        if failure is not None:
            return failure
        for record in self.matching(request):
            record.update(content=body["content"], ttl=body.get("ttl", "600"))
        return as_json({"status": "SUCCESS"})

    async def create(self, request: web.Request) -> web.Response:
        failure, body = await self.check(request)
        if failure is not None:
            return failure
        self.add(request.match_info["domain"], body["name"], body["type"], body["content"])
        return as_json({"status": "SUCCESS", "id": int(self.records[-1]["id"])})
