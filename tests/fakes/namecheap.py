"""dynamicdns.park-your-domain.com as Namecheap documents it.

``GET /update?host=SUB&domain=DOMAIN&password=P&ip=IP``; the answer is XML with
HTTP 200 whatever happened: ``<ErrCount>0</ErrCount>`` and ``<IP>`` on success,
otherwise ``<errors><Err1>...</Err1></errors>``. Natural errors: a wrong
password ("Passwords do not match"), a host without an A record ("No Records
updated. A record not Found;"), an unknown domain ("Domain name not found").
Steering: ``badip`` ("Invalid IP"), ``http502``.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.base import FakeServer

OK = """<?xml version="1.0" encoding="utf-8"?>
<interface-response><Command>SETDNSHOST</Command><Language>eng</Language>
<IP>{ip}</IP><ErrCount>0</ErrCount><ResponseCount>0</ResponseCount><Done>true</Done>
<debug><![CDATA[]]></debug></interface-response>"""
ERROR = """<?xml version="1.0" encoding="utf-8"?>
<interface-response><Command>SETDNSHOST</Command><Language>eng</Language>
<ErrCount>1</ErrCount><errors><Err1>{message}</Err1></errors><ResponseCount>1</ResponseCount>
<responses><response><ResponseNumber>{number}</ResponseNumber>
<ResponseString>{message}</ResponseString></response></responses><Done>true</Done>
<debug><![CDATA[]]></debug></interface-response>"""


def xml(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")


class NamecheapFake(FakeServer):
    def __init__(self, domain: str, password: str, hosts: set[str]) -> None:
        self.domain, self.password = domain, password
        self.records = dict.fromkeys(hosts, "")
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/update", self.update)

    async def update(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if forced == "http502":
            return xml("Bad gateway", 502)
        q = request.query
        if q.get("domain") != self.domain:
            return xml(ERROR.format(message="Domain name not found", number="316153"))
        if q.get("password") != self.password:
            return xml(ERROR.format(message="Passwords do not match", number="304156"))
        if forced == "badip":
            return xml(ERROR.format(message="Invalid IP", number="304156"))
        host = q.get("host", "")
        if host not in self.records:
            message = "No Records updated. A record not Found;"
            return xml(ERROR.format(message=message, number="380091"))
        self.records[host] = q["ip"]
        return xml(OK.format(ip=q["ip"]))
