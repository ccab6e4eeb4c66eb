"""dyn.dns.he.net as Hurricane Electric documents it.

``GET /nic/update?hostname=NAME&myip=IP`` with Basic auth user NAME and that
record's dynamic key. ``badauth`` for a wrong key or a non-dynamic record,
``nochg IP`` when unchanged, ``good IP`` when changed; ``nohost``,
``notfqdn``, ``abuse`` and ``911`` when a test asks.
"""

from __future__ import annotations

from ipaddress import ip_address

from aiohttp import web

from tests.fakes.base import FakeServer, text


class HEFake(FakeServer):
    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys  # record name -> dynamic key
        self.records: dict[tuple[str, str], str] = {}
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/nic/update", self.update)

    async def update(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if forced and forced.startswith("http"):
            return text("", int(forced[4:]))
        name = request.query.get("hostname", "")
        basic = self.requests[-1].basic
        if basic is None or basic[0] != name or self.keys.get(name) != basic[1]:
            return text("badauth", 401)
        if forced:
            return text(forced)
        address = request.query["myip"]
        key = (name, "AAAA" if ip_address(address).version == 6 else "A")
        if self.records.get(key) == address:
            return text(f"nochg {address}")
        self.records[key] = address
        return text(f"good {address}")
