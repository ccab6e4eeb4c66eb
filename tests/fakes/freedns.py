"""freedns.afraid.org's API as ddclient uses it.

``GET /api/?action=getdyndns&v=2&sha=SHA1(login|password)`` lists
``name|address|update URL``; a wrong sha gets an ``ERROR:`` line.
``GET /dynamic/update.php?TOKEN&address=IP`` answers ``Updated 1 host(s) ...``,
``ERROR: Address IP has not changed.`` or ``ERROR: Unable to locate this record``.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from tests.fakes.base import FakeServer, text


class FreeDNSFake(FakeServer):
    def __init__(self, login: str, password: str, records: dict[tuple[str, str], str]) -> None:
        self.sha = hashlib.sha1(f"{login}|{password}".encode()).hexdigest()  # noqa: S324
        # (name, rdtype) -> address; each record has its own update token
        self.records = dict(records)
        self.tokens = {f"TOKEN{i}abcdef": key for i, key in enumerate(records)}
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/", self.listing)
        router.add_get("/dynamic/update.php", self.update)

    async def listing(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if forced and forced.startswith("http"):
            return text("", int(forced[4:]))
        query = request.query
        if query.get("action") != "getdyndns" or query.get("sha") != self.sha:
            return text("ERROR: Could not authenticate.")
        lines = [
            f"{name}|{self.records[(name, rdtype)]}|{self.url}/dynamic/update.php?{token}"
            for token, (name, rdtype) in self.tokens.items()
        ]
        return text("\n".join(lines))

    async def update(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if forced and forced.startswith("http"):
            return text("", int(forced[4:]))
        token = request.query_string.partition("&")[0]
        key = self.tokens.get(token)
        if forced == "unknown-token" or key is None:
            return text(
                "ERROR: Unable to locate this record (changed password recently? deleted and"
                " re-created this dns entry?) (double check username/password are correct)"
            )
        address = request.query["address"]
        if forced == "unchanged" or self.records[key] == address:
            return text(f"ERROR: Address {address} has not changed.")
        self.records[key] = address
        return text(f"Updated 1 host(s) {key[0]} to {address} in 0.123 seconds")
