"""api.cloudflare.com/client/v4 as Cloudflare documents it (zones and DNS records).

Bearer token auth; an unknown token gets 403 ``{"success": false, "errors":
[{"code": 9109, "message": "Invalid access token"}]}``. ``GET /zones?name=``,
``GET /zones/ID/dns_records?type=&name=``, ``PATCH`` and ``POST`` records,
every answer in the ``{"success", "errors", "messages", "result"}`` envelope.
Steering: ``ratelimit`` (429, code 971), ``http500``, ``invalid`` (400, 9005
"Content for A record is invalid").
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, as_json


def envelope(
    result: Any = None, errors: list[dict[str, Any]] | None = None, status: int = 200
) -> web.Response:
    body = {"success": not errors, "errors": errors or [], "messages": [], "result": result}
    return as_json(body, status)


class CloudflareFake(FakeServer):
    def __init__(self, token: str, zones: dict[str, str]) -> None:
        self.token = token
        self.zones = zones  # zone name -> id
        self.records: dict[str, dict[str, Any]] = {}  # record id -> record
        self._ids = itertools.count(1)
        super().__init__()

    def add(self, zone_id: str, **record: Any) -> str:
        rid = f"rec{next(self._ids)}"
        self.records[rid] = {"id": rid, "zone_id": zone_id, "ttl": 1, "proxied": False, **record}
        return rid

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/client/v4/zones", self.list_zones)
        router.add_get(
            "/client/v4/zones/", self.list_zones
        )  # ddclient's spelling; Cloudflare takes it
        router.add_get("/client/v4/zones/{zone}/dns_records", self.list_records)
        router.add_post("/client/v4/zones/{zone}/dns_records", self.create)
        router.add_patch("/client/v4/zones/{zone}/dns_records/{rid}", self.patch)

    def check(self, request: web.Request) -> web.Response | None:
        forced = self.forced()
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return envelope(None, [{"code": 9109, "message": "Invalid access token"}], 403)
        if forced == "ratelimit":
            return envelope(None, [{"code": 971, "message": "Please wait and consider "
                                    "throttling your request speed"}], 429)  # fmt: skip
        if forced == "http500":
            return envelope(None, [{"code": 1000, "message": "Internal server error"}], 500)
        if forced == "invalid":
            return envelope(None, [{"code": 9005, "message": "Content for A record is invalid."}],
                            400)  # fmt: skip
        return None

    async def list_zones(self, request: web.Request) -> web.Response:
        if (error := self.check(request)) is not None:
            return error
        name = request.query.get("name")
        found = [{"id": zid, "name": zone} for zone, zid in self.zones.items() if zone == name]
        return envelope(found)

    async def list_records(self, request: web.Request) -> web.Response:
        if (error := self.check(request)) is not None:
            return error
        zid, q = request.match_info["zone"], request.query
        found = [
            r for r in self.records.values()
            if r["zone_id"] == zid and r["type"] == q.get("type") and r["name"] == q.get("name")
        ]  # fmt: skip
        return envelope(found)

    async def create(self, request: web.Request) -> web.Response:
        if (error := self.check(request)) is not None:
            return error
        body = await request.json()
        rid = self.add(request.match_info["zone"], **body)
        return envelope(self.records[rid])

    async def patch(self, request: web.Request) -> web.Response:
        if (error := self.check(request)) is not None:
            return error
        record = self.records.get(request.match_info["rid"])
        if record is None:
            return envelope(None, [{"code": 81044, "message": "Record does not exist."}], 404)
        record.update(await request.json())
        return envelope(record)
