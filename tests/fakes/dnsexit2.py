"""api.dnsexit.com/dns/ as DNSExit documents it.

``POST /dns/`` JSON ``{"apikey", "domain", "update": [{"type", "name", "content", "ttl"}]}``;
HTTP 200 with ``{"code": N, "message": ..., "details": [...]}``. Natural: a
wrong key is code 2, a body without ``domain``/``update`` is code 3, a record
type other than A/AAAA/TXT/... is 5. Steering: any code (``"1"``, ``"4"``,
``"6"``, ``"7"``), or ``http503``.
"""

from __future__ import annotations

import json

from aiohttp import web

from tests.fakes.base import FakeServer, as_json

MESSAGES = {
    0: "Success",
    1: "Some execution problems. May not indicate actions failures.",
    2: "API Key Authentication Error. The API Key is missing or wrong.",
    3: "Missing Required Definitions. Your JSON file may missing some required definitions.",
    4: "JSON Data Syntax Error. Your JSON file has syntax error.",
    5: "JSON Defined Record Type not Supported.",
    6: "System Error. Our system problem. May not be your problem.",
    7: "Error getting post data. Our server has problem to receive your JSON posting.",
}


def answer(code: int, details: list[str] | None = None) -> web.Response:
    return as_json({"code": code, "message": MESSAGES[code], "details": details or []})


class DNSExitFake(FakeServer):
    def __init__(self, apikey: str) -> None:
        self.apikey = apikey
        self.records: dict[tuple[str, str, str], str] = {}
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/dns/", self.update)

    async def update(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if forced == "http503":
            return web.Response(status=503)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return answer(4)
        if body.get("apikey") != self.apikey:
            return answer(2)
        if forced is not None:
            return answer(int(forced))
        if "domain" not in body or not body.get("update"):
            return answer(3)
        for item in body["update"]:
            if item.get("type") not in ("A", "AAAA", "TXT", "CNAME", "MX"):
                return answer(5)
            self.records[(body["domain"], item["name"], item["type"])] = item["content"]
        return answer(0, [f"{item['type']} updated" for item in body["update"]])
