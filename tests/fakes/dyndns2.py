"""A dyndns2 server as Dyn, No-IP, Dynu, OVH and HE document it.

``GET <path>?hostname=a,b&myip=v4[,v6][&myipv6=v6]`` with Basic auth and a
User-Agent; ``text/plain`` answer, one line per hostname, or one line for an
account-level code. Natural answers: wrong credentials -> ``badauth``, no
User-Agent -> ``badagent``, more than 20 names -> ``numhost``, a name without a
dot -> ``notfqdn``, a name not in the account -> ``nohost``, the address it
has -> ``nochg IP``, a new one -> ``good IP``. Any other documented code is
given when a test asks for it; ``http500`` / ``http401`` answer that status.
"""

from __future__ import annotations

from ipaddress import ip_address

from aiohttp import web

from tests.fakes.base import FakeServer, text

ACCOUNT_CODES = {"badauth", "badagent", "!donator", "numhost", "911"}
MAX_HOSTS = 20


class Dyndns2Fake(FakeServer):
    def __init__(
        self,
        *,
        path: str = "/nic/update",
        credentials: dict[str, str] | None = None,  # login -> password
        records: dict[str, dict[str, str]] | None = None,  # name -> {"A": ip, "AAAA": ip}
        auth_status: int = 200,  # Dyn/No-IP answer badauth with 200; OVH with 401
        required: dict[str, str] | None = None,  # e.g. OVH's system=dyndns
    ) -> None:
        self.path = path
        self.credentials = credentials if credentials is not None else {"user": "s3cret-pw"}
        self.records = records if records is not None else {"host.example.com": {}}
        self.auth_status = auth_status
        self.required = required or {}
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(self.path, self.update)

    def authorized(self, request: web.Request) -> bool:
        seen = self.requests[-1]
        basic = seen.basic
        return basic is not None and self.credentials.get(basic[0]) == basic[1]

    async def update(self, request: web.Request) -> web.Response:
        forced = self.forced()
        if forced == "throttle":  # a homeport server's per-host limit: 429 + abuse
            return text("abuse", 429)
        if forced and forced.startswith("http"):
            return text(forced[4:], int(forced[4:]))
        if not request.headers.get("User-Agent"):
            return text("badagent")
        if not self.authorized(request):
            return text("badauth", self.auth_status)
        if any(request.query.get(k) != v for k, v in self.required.items()):
            return text("badrequest", 400)
        if forced in ACCOUNT_CODES:
            return text(forced)
        names = [n for n in request.query.get("hostname", "").split(",") if n]
        if "alias" in request.query:  # Dynu's custom domains: hostname=zone&alias=sub
            names = [f"{request.query['alias']}.{names[0]}"] if names else []
        if len(names) > MAX_HOSTS:
            return text("numhost")
        if not names:
            return text("notfqdn")
        wanted: dict[str, str] = {}
        for value in request.query.getall("myip", []) + request.query.getall("myipv6", []):
            for part in value.split(","):
                if part == "no":  # Dynu: leave this family alone
                    continue
                family = "AAAA" if ip_address(part).version == 6 else "A"
                wanted.setdefault(family, part)
        lines = [forced or self.one(name, wanted) for name in names]
        return text("\n".join(lines))

    def one(self, name: str, wanted: dict[str, str]) -> str:
        if "." not in name:
            return "notfqdn"
        record = self.records.get(name)
        if record is None:
            return "nohost"
        shown = ",".join(wanted.values())
        if all(record.get(k) == v for k, v in wanted.items()):
            return f"nochg {shown}"
        record.update(wanted)
        return f"good {shown}"
