"""DNSExit's JSON update API (ddclient's ``protocol=dnsexit2``).

API (dnsexit.com "DNS API"): ``POST https://api.dnsexit.com/dns/`` with
``{"apikey": KEY, "domain": ZONE, "update": [{"type", "name", "content", "ttl"}]}``
(``name`` relative to the zone, empty for the apex; both families of a host in
one call). The answer is ``{"code": N, "message": ..., "details": [...]}``:
0 success; 1 some actions had problems (retried); 2 API key missing or wrong
(badauth); 3 missing definitions, 4 JSON syntax error, 5 record type not
supported (our request is wrong: fatal); 6 system error and 7 error receiving
the post (the provider's trouble: retried).

Documentation: https://dnsexit.com/dns/dns-api/
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import pydantic

from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.providers import _common as c
from homeport.providers.base import Flow, HttpReply, Provider, ProviderSettings

# ddclient's default for this protocol (DNSExit counts TTL in minutes).
DEFAULT_TTL = 5
CODES: dict[int, c.Outcome] = {
    0: c.Outcome(Status.GOOD, "good", "Success"),
    1: c.Outcome(Status.RETRY, "1", "some actions had execution problems"),
    2: c.Outcome(Status.FATAL, "badauth", "API key missing or wrong", account_wide=True),
    3: c.Outcome(Status.FATAL, "3", "missing required definitions"),
    4: c.Outcome(Status.FATAL, "4", "JSON data syntax error"),
    5: c.Outcome(Status.FATAL, "5", "record type not supported"),
    6: c.Outcome(Status.RETRY, "6", "DNSExit system error", account_wide=True),
    7: c.Outcome(Status.RETRY, "7", "DNSExit could not read the post", account_wide=True),
}


class DNSExitSettings(ProviderSettings):
    server: str = "https://api.dnsexit.com"
    ssl: bool = True
    path: str = "/dns/"
    apikey: pydantic.SecretStr
    zone: str | None = None  # default: the hostname itself (ddclient's rule)
    ttl: int = pydantic.Field(default=DEFAULT_TTL, ge=0)


class DNSExitProvider(Provider):
    name = "dnsexit2"
    Settings: ClassVar[type[ProviderSettings]] = DNSExitSettings
    ddclient_renames: ClassVar[Mapping[str, str]] = {"password": "apikey"}

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, DNSExitSettings)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        cfg = self.config
        key = cfg.apikey.get_secret_value()
        results: list[UpdateResult] = []
        stop: c.Outcome | None = None
        for host in hosts:
            records = c.records_of(host)
            if stop is not None:
                results.append(c.result(host, stop))
                continue
            zone, name = c.split_zone(host.hostname, cfg.zone or host.hostname)
            updates = [
                {"type": rdtype, "name": "" if name == "@" else name, "content": str(address),
                 "ttl": cfg.ttl}
                for rdtype, address in records
            ]  # fmt: skip
            reply = yield c.request(
                "POST",
                f"{c.base_url(cfg.server, cfg.ssl)}{cfg.path}",
                user_agent=self.user_agent,
                headers=c.JSON_HEADERS,
                body=c.json_body({"apikey": key, "domain": zone, "update": updates}),
                secrets=c.secret_forms(key),
                example=c.json_reply({"code": 0, "message": "Success"}),
            )
            outcome = self.read(reply)
            if outcome.account_wide:
                stop = outcome
            done = c.published_addresses(host) if outcome.published else []
            results.append(c.result(host, outcome, done))
        return results

    @staticmethod
    def read(reply: HttpReply) -> c.Outcome:
        body = c.parse_json(reply)
        if isinstance(body, dict) and isinstance(body.get("code"), int) and body["code"] in CODES:
            known = CODES[body["code"]]
            detail = c.one_line(str(body.get("message", "")))
            return c.Outcome(known.status, known.code, detail or known.message, known.account_wide)
        verdict = c.http_outcome(reply)
        return verdict or c.Outcome(Status.RETRY, "badresponse", "answer is not DNSExit JSON", True)


PROVIDER = DNSExitProvider
