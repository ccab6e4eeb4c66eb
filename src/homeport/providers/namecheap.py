"""Namecheap Dynamic DNS (dynamicdns.park-your-domain.com).

API (Namecheap knowledge base "How do I use a browser to dynamically update
the host's IP?"): ``GET https://dynamicdns.park-your-domain.com/update``
``?host=SUB&domain=DOMAIN&password=DDNSPASSWORD&ip=IPv4`` (``@`` is the apex;
the password is the domain's Dynamic DNS password, sent in the query, so it is
a secret of the URL). The answer is XML, HTTP 200 even on errors::

    <interface-response><IP>1.2.3.4</IP><ErrCount>0</ErrCount>...</interface-response>
    <interface-response><ErrCount>1</ErrCount><errors><Err1>Passwords do not match</Err1>...

Errors seen: "Passwords do not match" / "Invalid password" (badauth),
"No Records updated. A record not Found;" and "Domain name not found" (nohost),
"Invalid IP" (fatal). Namecheap's Dynamic DNS takes IPv4 only; an IPv6-only
host is refused locally with ``!ipv6`` and an IPv6 address beside an IPv4 one
is left unpublished.

Documentation: https://www.namecheap.com/support/knowledgebase/article.aspx/29/11/how-to-dynamically-update-the-hosts-ip-with-an-http-request/
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

import pydantic

from homeport.core.update import HostUpdate, Status
from homeport.providers import _common as c
from homeport.providers.base import Exchange, Flow, HttpReply, Provider, ProviderSettings


class NamecheapSettings(ProviderSettings):
    server: str = "https://dynamicdns.park-your-domain.com"
    ssl: bool = True
    password: pydantic.SecretStr
    zone: str | None = None  # the domain; default: the hostname's last two labels


def read_reply(reply: HttpReply) -> c.Outcome:
    import defusedxml.ElementTree as ElementTree  # only loaded when Namecheap is configured

    verdict = c.http_outcome(reply)
    if verdict is not None:
        return verdict
    try:
        root = ElementTree.fromstring(reply.body)
    except ElementTree.ParseError:
        return c.Outcome(Status.RETRY, "badresponse", "answer is not XML", True)
    count = (root.findtext("ErrCount") or "").strip()
    if count == "0":
        return c.Outcome(Status.GOOD, "good", f"IP {root.findtext('IP') or ''}".strip())
    errors = [e.text or "" for e in root.find("errors") or []]
    detail = c.one_line("; ".join(errors) or reply.text)
    lowered = detail.lower()
    if "password" in lowered:
        return c.Outcome(Status.FATAL, "badauth", detail, True)
    if "not found" in lowered:
        return c.Outcome(Status.FATAL, "nohost", detail)
    return c.Outcome(Status.FATAL, "error", detail)


class NamecheapProvider(Provider):
    name = "namecheap"
    Settings: ClassVar[type[ProviderSettings]] = NamecheapSettings
    # ddclient: login=<the domain>
    ddclient_renames: ClassVar[Mapping[str, str]] = {"login": "zone"}

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, NamecheapSettings)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        # IPv4 only: the IPv6 half of a host is dropped (and reported unpublished).
        v4_hosts = [HostUpdate(h.hostname, h.ipv4) for h in hosts if h.ipv4 is not None]
        done = iter((yield from c.each_record(v4_hosts, self._one)))
        no_v6 = c.Outcome(Status.FATAL, "!ipv6", "Namecheap Dynamic DNS takes IPv4 only")
        return [next(done) if h.ipv4 is not None else c.result(h, no_v6) for h in hosts]

    def _one(
        self, host: HostUpdate, rdtype: str, address: c.Address
    ) -> Generator[Exchange, Any, c.Outcome]:
        cfg = self.config
        zone, name = c.split_zone(host.hostname, cfg.zone)
        password = cfg.password.get_secret_value()
        query = urlencode({"host": name, "domain": zone, "password": password, "ip": str(address)})
        example = f"<interface-response><IP>{address}</IP><ErrCount>0</ErrCount>"
        example += "</interface-response>"
        reply = yield c.request(
            "GET",
            f"{c.base_url(cfg.server, cfg.ssl)}/update?{query}",
            user_agent=self.user_agent,
            secrets=c.secret_forms(password),
            example=HttpReply(200, example.encode()),
        )
        return read_reply(reply)


PROVIDER = NamecheapProvider
