"""www.duckdns.org as its spec page documents it.

``GET /update?domains=a,b&token=T[&ip=][&ipv6=][&verbose=true]``: ``KO`` for a
bad token or a domain not in the account; ``OK`` otherwise, verbose adding the
addresses and ``UPDATED`` or ``NOCHANGE``.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.base import FakeServer, text


class DuckDNSFake(FakeServer):
    def __init__(self, token: str, domains: set[str]) -> None:
        self.token = token
        self.records: dict[str, dict[str, str]] = {d: {} for d in domains}
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/update", self.update)

    async def update(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if forced and forced.startswith("http"):
            return text("", int(forced[4:]))
        query = request.query
        domains = [d for d in query.get("domains", "").split(",") if d]
        if query.get("token") != self.token or not domains:
            return text("KO")
        if any(d not in self.records for d in domains):
            return text("KO")
        wanted = {k: v for k, v in (("A", query.get("ip")), ("AAAA", query.get("ipv6"))) if v}
        changed = False
        for domain in domains:
            record = self.records[domain]
            changed |= any(record.get(k) != v for k, v in wanted.items())
            record.update(wanted)
        if query.get("verbose") != "true":
            return text("OK")
        lines = ["OK", wanted.get("A", ""), wanted.get("AAAA", "")]
        return text("\n".join([*lines, "UPDATED" if changed else "NOCHANGE"]))
