"""FreeDNS (freedns.afraid.org), the way ddclient's ``protocol=freedns`` talks to it.

API (freedns.afraid.org/api and /dynamic): first
``GET https://freedns.afraid.org/api/?action=getdyndns&v=2&sha=SHA1(login|password)``
lists the account's dynamic records, one per line, ``name|address|update URL``
(the update URL carries the record's own secret token). Then
``GET <update URL>&address=IP`` updates one record; it answers
``Updated N host(s) NAME to IP in T seconds``, or
``ERROR: Address IP has not changed.`` (nochg), or
``ERROR: Unable to locate this record ...`` (the token is unknown: nohost).
A listing that is an ``ERROR:`` line means the credentials were refused.
A record already at the wanted address is not updated (ddclient does the same),
which keeps us clear of FreeDNS's abuse limits.

Documentation: https://freedns.afraid.org/api/ and https://freedns.afraid.org/dynamic/
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Sequence
from ipaddress import ip_address
from typing import Any, ClassVar
from urllib.parse import urlencode

import pydantic

from homeport.core.update import HostUpdate, Status
from homeport.providers import _common as c
from homeport.providers.base import Exchange, Flow, HttpReply, Provider, ProviderSettings

# What a dry run pretends the listing said (the real URL carries a secret token).
EXAMPLE_UPDATE_URL = "https://freedns.afraid.org/dynamic/update.php?TOKEN"


class FreeDNSSettings(ProviderSettings):
    server: str = "https://freedns.afraid.org"
    ssl: bool = True
    login: str
    password: pydantic.SecretStr


def parse_listing(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(name, rdtype) -> (current address, update URL) from a getdyndns answer."""
    records: dict[tuple[str, str], tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3:
            continue
        name, current, url = parts[0].lower(), parts[1], parts[2]
        try:
            rdtype = "AAAA" if ip_address(current).version == 6 else "A"
        except ValueError:
            continue
        records[(name, rdtype)] = (current, url)
    return records


def read_update(reply: HttpReply) -> c.Outcome:
    verdict = c.http_outcome(reply)
    if verdict is not None:
        return verdict
    text = c.one_line(reply.text)
    if text.startswith("Updated"):
        return c.Outcome(Status.GOOD, "good", text)
    if "has not changed" in text:
        return c.Outcome(Status.NOCHG, "nochg", text)
    if "Unable to locate this record" in text:
        return c.Outcome(Status.FATAL, "nohost", "FreeDNS does not know this record's token")
    if text.startswith("ERROR"):
        return c.Outcome(Status.FATAL, "ERROR", text)
    return c.Outcome(Status.RETRY, "badresponse", f"unexpected answer {text[:40]!r}", True)


class FreeDNSProvider(Provider):
    name = "freedns"
    Settings: ClassVar[type[ProviderSettings]] = FreeDNSSettings
    max_hosts_per_request = 20  # one listing serves every host of the account

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, FreeDNSSettings)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        cfg = self.config
        password = cfg.password.get_secret_value()
        sha = hashlib.sha1(f"{cfg.login}|{password}".encode()).hexdigest()  # noqa: S324 (FreeDNS's scheme)
        query = urlencode({"action": "getdyndns", "v": "2", "sha": sha})
        example = "\n".join(
            f"{h.hostname}|{a}|{EXAMPLE_UPDATE_URL}"
            for h in hosts
            for a in ("192.0.2.0", "2001:db8::")  # a different address, so the update renders
        )
        reply = yield c.request(
            "GET",
            f"{c.base_url(cfg.server, cfg.ssl)}/api/?{query}",
            user_agent=self.user_agent,
            secrets=[sha, *c.secret_forms(password)],
            example=HttpReply(200, example.encode()),
        )
        listing = c.http_outcome(reply)
        text = reply.text.strip()
        if listing is None and text.startswith("ERROR"):
            listing = c.Outcome(Status.FATAL, "badauth", c.one_line(text, 80), True)
        if listing is not None:
            return [c.result(h, listing) for h in hosts]
        records = parse_listing(text)

        def one(
            host: HostUpdate, rdtype: str, address: c.Address
        ) -> Generator[Exchange, Any, c.Outcome]:
            record = records.get((host.hostname.lower().rstrip("."), rdtype))
            if record is None:
                return c.Outcome(Status.FATAL, "nohost", f"no {rdtype} record at FreeDNS")
            current, url = record
            if current == str(address):
                return c.Outcome(Status.NOCHG, "nochg", f"{rdtype} record already {address}")
            token = url.partition("?")[2]
            reply = yield c.request(
                "GET",
                f"{url}&{urlencode({'address': str(address)}, safe=':')}",
                user_agent=self.user_agent,
                secrets=[token, *c.secret_forms(password)],
                example=HttpReply(200, f"Updated 1 host(s) {host.hostname} to {address}".encode()),
            )
            return read_update(reply)

        return (yield from c.each_record(hosts, one))


PROVIDER = FreeDNSProvider
