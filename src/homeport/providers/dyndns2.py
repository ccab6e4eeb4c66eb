"""The generic dyndns2 provider (Dyn's Remote Access API, spoken by most DDNS services).

API (Dyn, "Perform Update"; No-IP "Integrate with No-IP DDNS"; docs/architecture.md, dyndns2):
``GET /nic/update?hostname=h1,h2&myip=IP`` with HTTP Basic auth and a
mandatory User-Agent; up to 20 hostnames per request. The answer is
``text/plain``, one line per hostname in request order (``good IP``,
``nochg IP``, ``nohost``, ...), or one line for an account-level error
(``badauth``, ``badagent``, ``!donator``, ``numhost``, ``911``).
:data:`homeport.proto.dyndns2.DISPOSITION` says what each code means for us.

IPv6 comes in two styles: ``myip=v4,v6`` (a comma list; Dyn and No-IP) or a
separate ``myipv6=`` parameter (Dynu, inadyn). The presets (``dyn``, ``noip``,
``dynu``, ``ovh``, ``homeport``) are subclasses that only change defaults.

Some servers answer an HTTP error status with a dyndns2 body (``401`` +
``badauth``); the body wins when it parses, else the status decides.

Documentation: https://help.dyn.com/remote-access-api/ (the protocol's origin)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal
from urllib.parse import urlencode

import pydantic

from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.errors import RemoteProtocolError
from homeport.proto import dyndns2
from homeport.providers import _common as c
from homeport.providers.base import Flow, HttpExchange, HttpReply, Provider, ProviderSettings

_STATUS = {
    dyndns2.Disposition.FATAL: Status.FATAL,
    dyndns2.Disposition.RETRY: Status.RETRY,
    dyndns2.Disposition.RETRY_SLOW: Status.RETRY_SLOW,
}


class Dyndns2Settings(ProviderSettings):
    """Settings of a dyndns2 server (ddclient: ``server=``, ``login=``, ``password=``, ``ssl=``)."""

    server: str = "https://members.dyndns.org"
    ssl: bool = True  # only used when ``server`` names a bare host, as in ddclient.conf
    path: str = "/nic/update"
    login: str
    password: pydantic.SecretStr
    ipv6_style: Literal["list", "separate"] = "list"
    # Dyn's documented limit; a smaller value helps servers that choke on lists.
    max_hosts: int = pydantic.Field(default=dyndns2.MAX_HOSTNAMES, ge=1, le=dyndns2.MAX_HOSTNAMES)
    # Further query parameters sent as they are (Dyn: wildcard, mx, backmx; OVH: system).
    extra: dict[str, str] = pydantic.Field(default_factory=dict)


def read_reply(reply: HttpReply, hostnames: Sequence[str]) -> list[c.Outcome]:
    """One outcome per hostname from a dyndns2 answer.

    HTTP 429 means "slow down" (RFC 6585 §4) whatever the body says: a server
    that throttles with ``429`` + ``abuse`` (ours does) is telling
    us to wait, not that the host is blocked for good.
    """
    if reply.status in c.RETRY_STATUSES and "911" not in reply.text.split():
        detail = c.one_line(reply.text, 60)
        return [c.Outcome(Status.RETRY, f"HTTP {reply.status}", detail, True)] * len(hostnames)
    try:
        lines = dyndns2.parse_response(reply.text, hostnames)
    except RemoteProtocolError as exc:
        verdict = c.http_outcome(reply, c.one_line(reply.text, 60))
        if verdict is None:
            verdict = c.Outcome(Status.RETRY, "badresponse", str(exc), account_wide=True)
        return [verdict] * len(hostnames)
    return [outcome_of(line) for line in lines]


def outcome_of(line: dyndns2.ResponseLine) -> c.Outcome:
    code = line.code
    message = dyndns2.render_line(code, line.addresses)
    disposition = dyndns2.DISPOSITION[code]
    if disposition is dyndns2.Disposition.PUBLISHED:
        status = Status.GOOD if code is dyndns2.Code.GOOD else Status.NOCHG
        return c.Outcome(status, code.value, message)
    account_wide = code in dyndns2.ACCOUNT_CODES
    return c.Outcome(_STATUS[disposition], code.value, message, account_wide)


class Dyndns2Provider(Provider):
    name = "dyndns2"
    Settings: ClassVar[type[ProviderSettings]] = Dyndns2Settings
    max_hosts_per_request = dyndns2.MAX_HOSTNAMES
    # ddclient's name for the update path
    ddclient_renames: ClassVar[Mapping[str, str]] = {"script": "path"}

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, Dyndns2Settings)

    @property
    def batch_size(self) -> int:
        """How many hosts one request may name."""
        return self.config.max_hosts

    def host_params(self, hosts: Sequence[HostUpdate]) -> list[tuple[str, str]]:
        return [("hostname", ",".join(h.hostname for h in hosts))]

    def address_params(self, host: HostUpdate) -> list[tuple[str, str]]:
        ipv4, ipv6 = host.ipv4, host.ipv6
        if self.config.ipv6_style == "separate":
            params = [("myip", str(ipv4))] if ipv4 else []
            return params + ([("myipv6", str(ipv6))] if ipv6 else [])
        return [("myip", ",".join(str(a) for a in (ipv4, ipv6) if a is not None))]

    def exchange(self, hosts: Sequence[HostUpdate]) -> HttpExchange:
        """The one request that publishes ``hosts`` (which share their addresses)."""
        cfg = self.config
        params = self.host_params(hosts)
        params += self.address_params(hosts[0]) + sorted(cfg.extra.items())
        url = f"{c.base_url(cfg.server, cfg.ssl)}{cfg.path}?{urlencode(params, safe=',:')}"
        password = cfg.password.get_secret_value()
        auth = c.basic_auth(cfg.login, password)
        example_lines = [
            f"good {','.join(str(a) for a in c.published_addresses(h))}" for h in hosts
        ]
        return c.request(
            "GET",
            url,
            user_agent=self.user_agent,
            headers=[("Authorization", auth)],
            secrets=[*c.secret_forms(password), auth, auth.removeprefix("Basic ")],
            example=HttpReply(200, "\n".join(example_lines).encode()),
        )

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        for host in hosts:
            c.records_of(host)  # every host must have something to publish
        # Hosts in one request share its myip, so group them by their addresses.
        groups: dict[tuple[object, object], list[int]] = {}
        for index, host in enumerate(hosts):
            groups.setdefault((host.ipv4, host.ipv6), []).append(index)
        size = self.batch_size
        batches = [m[i : i + size] for m in groups.values() for i in range(0, len(m), size)]
        results: dict[int, UpdateResult] = {}
        stop: c.Outcome | None = None
        for batch in batches:
            members = [hosts[i] for i in batch]
            if stop is not None:
                results.update({i: c.result(h, stop) for i, h in zip(batch, members, strict=True)})
                continue
            reply = yield self.exchange(members)
            outcomes = read_reply(reply, [h.hostname for h in members])
            for i, host, outcome in zip(batch, members, outcomes, strict=True):
                done = c.published_addresses(host) if outcome.published else []
                results[i] = c.result(host, outcome, done)
                if outcome.account_wide:
                    stop = outcome
        return [results[i] for i in range(len(hosts))]


PROVIDER = Dyndns2Provider
