"""RFC 2136 dynamic UPDATE signed with TSIG (RFC 8945), the way nsupdate does it.

Protocol: one UPDATE message per host to the zone's primary (``server``,
usually over TCP), zone section = the zone, prerequisites none, update
section = "delete the A (AAAA) rrset at NAME, add NAME TTL A (AAAA) ADDRESS"
(RFC 2136 §2.5.2 then §2.5.1, which dnspython's ``replace`` writes), signed
with a TSIG key (HMAC-MD5, HMAC-SHA1/224/256/384/512). Both families of a host
travel in the same message, so the server applies them atomically (§3.4.2).

The server's RCODE says how it went (RFC 2136 §2.2, RFC 8945 §5.3):
NOERROR published; NOTAUTH (bad key, signature or time), REFUSED (policy) and
NOTZONE (name outside the zone) are fatal until the config changes; SERVFAIL
is retried; any other RCODE means our request was wrong and is fatal.
A TSIG failure arrives as NOTAUTH; the I/O shell reports a response whose own
TSIG does not verify the same way.

ddclient's ``protocol=nsupdate`` keeps the key in a BIND key file
(``password=/path/to/key``): :func:`parse_bind_key` reads its text.

Documentation: RFC 2136 (https://www.rfc-editor.org/rfc/rfc2136), RFC 8945 (TSIG)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from ipaddress import ip_address
from pathlib import Path
from typing import Any, ClassVar, Literal

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.update
import pydantic

from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.errors import ConfigError
from homeport.providers import _common as c
from homeport.providers.base import DnsExchange, Flow, Provider, ProviderSettings, TxtChange

Algorithm = Literal[
    "hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"
]
ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
# DNS over port 53 (RFC 1035 §4.2); UPDATE over TCP like nsupdate's default for TSIG.
DNS_PORT = 53
# Our own server's default record TTL (server/config.py): short, the address moves.
DEFAULT_TTL = 60
# A challenge value lives for minutes; a resolver must not cache it past the next order.
CHALLENGE_TTL = 60

ACCOUNT_RCODES = {dns.rcode.NOTAUTH, dns.rcode.REFUSED}  # the key, not the host, is refused


class RFC2136Settings(ProviderSettings):
    server: str  # the primary's IP address
    port: int = pydantic.Field(default=DNS_PORT, ge=1, le=65535)
    tcp: bool = True
    zone: str
    key_name: str
    key_secret: pydantic.SecretStr  # base64, as in a BIND key file
    key_algorithm: Algorithm = "hmac-sha256"
    ttl: int = pydantic.Field(default=DEFAULT_TTL, ge=0)

    @pydantic.field_validator("server")
    @classmethod
    def _address(cls, value: str) -> str:
        # dnspython sends to an address; resolving a name here would hide which
        # address an update went to (nsupdate's `server` takes either).
        try:
            return str(ip_address(value.strip("[]")))
        except ValueError:
            raise ValueError("server must be the primary's IP address") from None

    @pydantic.field_validator("key_secret")
    @classmethod
    def _base64(cls, value: pydantic.SecretStr) -> pydantic.SecretStr:
        try:
            base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("key_secret is not base64") from None
        return value


_KEY = re.compile(
    r'key\s+"?(?P<name>[^"\s{]+)"?\s*\{(?P<body>.*?)\}\s*;', re.DOTALL | re.IGNORECASE
)


def parse_bind_key(text: str) -> tuple[str, str, str]:
    """(name, algorithm, secret) from a BIND ``key "n" { algorithm a; secret "s"; };`` file."""
    match = _KEY.search(text)
    if match is None:
        raise ConfigError("no key statement in the TSIG key file")
    body = match.group("body")
    algorithm = re.search(r"algorithm\s+\"?([\w.-]+)\"?\s*;", body)
    secret = re.search(r"secret\s+\"([^\"]+)\"\s*;", body)
    if algorithm is None or secret is None:
        raise ConfigError(f"key {match.group('name')} lacks an algorithm or a secret")
    # "hmac-md5.sig-alg.reg.int" is the old long name of hmac-md5.
    return match.group("name"), algorithm.group(1).lower().split(".")[0], secret.group(1)


def outcome_of(response: Any) -> c.Outcome:
    rcode = response.rcode()
    word = dns.rcode.to_text(rcode)
    if rcode == dns.rcode.NOERROR:
        return c.Outcome(Status.GOOD, "good", "NOERROR")
    if rcode == dns.rcode.SERVFAIL:
        return c.Outcome(Status.RETRY, word, "the server failed the update")
    return c.Outcome(Status.FATAL, word, f"the server answered {word}", rcode in ACCOUNT_RCODES)


class RFC2136Provider(Provider):
    name = "rfc2136"
    Settings: ClassVar[type[ProviderSettings]] = RFC2136Settings

    @classmethod
    def settings_from_ddclient(cls, options: Mapping[str, str]) -> ProviderSettings:
        """ddclient's nsupdate: ``password=`` names a BIND key file; ``login=`` (the
        nsupdate binary) is not needed. The file is read here, at config time."""
        opts = dict(options)
        path = opts.pop("password", "")
        if path:
            try:
                text = Path(path).read_text()
            except OSError as exc:
                raise ConfigError(
                    f"password: cannot read TSIG key file {path}: {exc.strerror}"
                ) from None
            name, algorithm, secret = parse_bind_key(text)
            opts.update({"key-name": name, "key-algorithm": algorithm, "key-secret": secret})
        return super().settings_from_ddclient(opts)

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, RFC2136Settings)
        cfg = self.config
        self.key = dns.tsig.Key(
            cfg.key_name, cfg.key_secret.get_secret_value(), ALGORITHMS[cfg.key_algorithm]
        )
        self.zone = dns.name.from_text(cfg.zone)

    def message(self, host: HostUpdate) -> dns.update.UpdateMessage:
        """The signed UPDATE that replaces ``host``'s A/AAAA rrsets."""
        name = dns.name.from_text(host.hostname)
        if not name.is_subdomain(self.zone):
            raise ConfigError(f"{host.hostname} is not inside zone {self.config.zone}")
        update = dns.update.UpdateMessage(self.zone, keyring=self.key)
        for rdtype, address in c.records_of(host):
            update.replace(name, self.config.ttl, rdtype, str(address))
        return update

    def txt_message(self, change: TxtChange) -> dns.update.UpdateMessage:
        """The signed UPDATE that adds (RFC 2136 §2.5.1) or deletes exactly one TXT
        value (§2.5.4: "delete an RR from an RRset"); other values at the name stay."""
        name = dns.name.from_text(change.fqdn)
        if not name.is_subdomain(self.zone):
            raise ConfigError(f"{change.fqdn} is not inside zone {self.config.zone}")
        rdata = dns.rdtypes.ANY.TXT.TXT(
            dns.rdataclass.IN, dns.rdatatype.TXT, [change.value.encode()]
        )
        update = dns.update.UpdateMessage(self.zone, keyring=self.key)
        if change.present:
            update.add(name, CHALLENGE_TTL, rdata)
        else:
            update.delete(name, rdata)
        return update

    def txt_server(self) -> tuple[str, int] | None:
        return self.config.server, self.config.port

    def txt(self, change: TxtChange) -> Flow:
        cfg = self.config
        response = yield DnsExchange(self.txt_message(change), cfg.server, cfg.port, cfg.tcp)
        if not isinstance(response, dns.message.Message):
            raise TypeError("an RFC 2136 flow takes DNS messages")
        outcome = outcome_of(response)
        return [UpdateResult(change.fqdn, outcome.status, outcome.code, outcome.message)]

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        results = []
        stop: c.Outcome | None = None
        cfg = self.config
        for host in hosts:
            if stop is not None:
                results.append(c.result(host, stop))
                continue
            response = yield DnsExchange(self.message(host), cfg.server, cfg.port, cfg.tcp)
            if not isinstance(response, dns.message.Message):
                raise TypeError("an RFC 2136 flow takes DNS messages")
            outcome = outcome_of(response)
            if outcome.account_wide:
                stop = outcome
            done = c.published_addresses(host) if outcome.published else []
            results.append(c.result(host, outcome, done))
        return results


PROVIDER = RFC2136Provider
