"""DuckDNS token-style updates.

API (duckdns.org/spec.jsp): ``GET https://www.duckdns.org/update``
``?domains=a,b&token=T[&ip=v4][&ipv6=v6][&verbose=true]``. ``domains`` are
the sub-names without ``.duckdns.org`` (a comma list shares one address).
The answer is ``OK`` or ``KO`` (bad token or a domain not in the account);
with ``verbose=true`` an ``OK`` is followed by the addresses and ``UPDATED``
or ``NOCHANGE``, which is how we tell ``good`` from ``nochg``. The token rides
in the URL, so it is listed among the exchange's secrets.

Documentation: https://www.duckdns.org/spec.jsp
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar
from urllib.parse import urlencode

import pydantic

from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.providers import _common as c
from homeport.providers.base import Flow, HttpReply, Provider, ProviderSettings

SUFFIX = ".duckdns.org"
# DuckDNS documents no limit; we keep requests at dyndns2's 20 names.
MAX_DOMAINS = 20


class DuckDNSSettings(ProviderSettings):
    server: str = "https://www.duckdns.org"
    ssl: bool = True
    token: pydantic.SecretStr


def subname(hostname: str) -> str:
    name = hostname.lower().rstrip(".")
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


def read_reply(reply: HttpReply) -> c.Outcome:
    verdict = c.http_outcome(reply)
    if verdict is not None:
        return verdict
    lines = reply.text.split()
    word = lines[0] if lines else ""
    if word == "OK":
        if "NOCHANGE" in lines[1:]:
            return c.Outcome(Status.NOCHG, "nochg", "OK NOCHANGE")
        return c.Outcome(Status.GOOD, "good", "OK UPDATED" if "UPDATED" in lines else "OK")
    if word == "KO":
        return c.Outcome(
            Status.FATAL, "KO", "DuckDNS refused the token or a domain", account_wide=True
        )
    return c.Outcome(
        Status.RETRY, "badresponse", f"unexpected answer {c.one_line(reply.text, 40)!r}", True
    )


class DuckDNSProvider(Provider):
    name = "duckdns"
    Settings: ClassVar[type[ProviderSettings]] = DuckDNSSettings
    # ddclient: password=<token>
    ddclient_renames: ClassVar[Mapping[str, str]] = {"password": "token"}
    max_hosts_per_request = MAX_DOMAINS

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, DuckDNSSettings)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        cfg = self.config
        token = cfg.token.get_secret_value()
        groups: dict[tuple[object, object], list[int]] = {}
        for index, host in enumerate(hosts):
            c.records_of(host)
            groups.setdefault((host.ipv4, host.ipv6), []).append(index)
        batches = [
            m[i : i + MAX_DOMAINS] for m in groups.values() for i in range(0, len(m), MAX_DOMAINS)
        ]
        results: dict[int, UpdateResult] = {}
        stop: c.Outcome | None = None
        for batch in batches:
            members = [hosts[i] for i in batch]
            if stop is None:
                first = members[0]
                params = [("domains", ",".join(subname(h.hostname) for h in members))]
                params.append(("token", token))
                params += [("ip", str(first.ipv4))] if first.ipv4 else []
                params += [("ipv6", str(first.ipv6))] if first.ipv6 else []
                params.append(("verbose", "true"))
                example = ["OK", str(first.ipv4 or ""), str(first.ipv6 or ""), "UPDATED"]
                reply = yield c.request(
                    "GET",
                    f"{c.base_url(cfg.server, cfg.ssl)}/update?{urlencode(params, safe=',:')}",
                    user_agent=self.user_agent,
                    secrets=c.secret_forms(token),
                    example=HttpReply(200, "\n".join(example).encode()),
                )
                outcome = read_reply(reply)
                if outcome.account_wide:
                    stop = outcome
            else:
                outcome = stop
            for i, host in zip(batch, members, strict=True):
                done = c.published_addresses(host) if outcome.published else []
                results[i] = c.result(host, outcome, done)
        return [results[i] for i in range(len(hosts))]


PROVIDER = DuckDNSProvider
