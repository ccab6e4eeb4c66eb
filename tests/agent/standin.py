"""Stand-ins for the providers branch (dyndns2 provider, provider_client) until it lands.

Installed only when the real ones are missing, so these tests exercise the real
provider as soon as it is merged. Run as a module to get a homeport CLI with
the stand-ins installed: ``python -m tests.agent.standin agent run ...``.
"""

from __future__ import annotations

import base64
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

import pydantic

from homeport import providers
from homeport.proto import dyndns2
from homeport.providers.base import (
    Flow,
    HostUpdate,
    HttpExchange,
    HttpReply,
    Provider,
    ProviderSettings,
    Status,
    UpdateResult,
)

_STATUS = {
    dyndns2.Disposition.FATAL: Status.FATAL,
    dyndns2.Disposition.RETRY: Status.RETRY,
    dyndns2.Disposition.RETRY_SLOW: Status.RETRY_SLOW,
}


class Settings(ProviderSettings):
    server: str = "https://members.dyndns.org"
    ssl: bool = True
    path: str = "/nic/update"
    login: str
    password: pydantic.SecretStr


class StandinDyndns2(Provider):
    name = "dyndns2"
    Settings: ClassVar[type[ProviderSettings]] = Settings
    max_hosts_per_request = 20

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        cfg = self.settings
        assert isinstance(cfg, Settings)
        base = (
            cfg.server
            if "://" in cfg.server
            else f"{'https' if cfg.ssl else 'http'}://{cfg.server}"
        )
        first = hosts[0]
        myip = ",".join(str(a) for a in (first.ipv4, first.ipv6) if a is not None)
        query = urlencode(
            [("hostname", ",".join(h.hostname for h in hosts)), ("myip", myip)], safe=",:"
        )
        password = cfg.password.get_secret_value()
        token = base64.b64encode(f"{cfg.login}:{password}".encode()).decode()
        reply = yield HttpExchange(
            "GET",
            f"{base.rstrip('/')}{cfg.path}?{query}",
            headers=(("Authorization", f"Basic {token}"), ("User-Agent", self.user_agent)),
            secrets=(password, token),
        )
        assert isinstance(reply, HttpReply)
        if reply.status >= 500:
            return [UpdateResult(h.hostname, Status.RETRY, f"HTTP {reply.status}") for h in hosts]
        lines = dyndns2.parse_response(reply.text, [h.hostname for h in hosts])
        results = []
        for host, line in zip(hosts, lines, strict=True):
            disposition = dyndns2.DISPOSITION[line.code]
            if disposition is dyndns2.Disposition.PUBLISHED:
                status = Status.GOOD if line.code is dyndns2.Code.GOOD else Status.NOCHG
            else:
                status = _STATUS[disposition]
            results.append(
                UpdateResult(
                    host.hostname, status, line.code.value, reply.text.strip(), host.ipv4, host.ipv6
                )
            )
        return results


PROVIDER = StandinDyndns2


class TokenSettings(ProviderSettings):
    token: pydantic.SecretStr


class StandinToken(Provider):
    """Only so configs naming a token provider validate; never run."""

    name = "duckdns"
    Settings: ClassVar[type[ProviderSettings]] = TokenSettings
    ddclient_renames: ClassVar[dict[str, str]] = {"password": "token"}

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        raise NotImplementedError
        yield


class _TokenModule(types.ModuleType):
    PROVIDER = StandinToken


def render_flow_dry_run(flow: Flow) -> list[str]:
    rendered: list[str] = []
    try:
        exchange = next(flow)
        rendered.append(exchange.render())
    except StopIteration:
        pass
    finally:
        flow.close()
    return rendered


async def send_dns(exchange: Any, time_limit: float) -> Any:
    import dns.asyncquery
    import dns.message
    import dns.rcode
    import dns.tsig

    try:
        return await dns.asyncquery.tcp(
            exchange.message, exchange.server, timeout=time_limit, port=exchange.port
        )
    except dns.tsig.PeerError:  # the server refused our key: it answered NOTAUTH
        response = dns.message.make_response(exchange.message)
        response.set_rcode(dns.rcode.NOTAUTH)
        return response


class Rfc2136Settings(ProviderSettings):
    server: str
    port: int = 53
    tcp: bool = True
    zone: str
    key_name: str
    key_secret: pydantic.SecretStr
    key_algorithm: str = "hmac-sha256"
    ttl: int = 60


class StandinRfc2136(Provider):
    """One signed UPDATE per host (replace A/AAAA), as the real rfc2136 provider sends."""

    name = "rfc2136"
    Settings: ClassVar[type[ProviderSettings]] = Rfc2136Settings

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        import dns.rcode
        import dns.tsig
        import dns.update

        from homeport.providers.base import DnsExchange

        cfg = self.settings
        assert isinstance(cfg, Rfc2136Settings)
        key = dns.tsig.Key(cfg.key_name, cfg.key_secret.get_secret_value(), cfg.key_algorithm)
        results = []
        for host in hosts:
            message = dns.update.UpdateMessage(cfg.zone, keyring=key)
            for kind, address in (("A", host.ipv4), ("AAAA", host.ipv6)):
                if address is not None:
                    message.replace(f"{host.hostname}.", cfg.ttl, kind, str(address))
            reply = yield DnsExchange(message, cfg.server, cfg.port, cfg.tcp)
            rcode = reply.rcode()
            status = Status.GOOD if rcode == dns.rcode.NOERROR else Status.FATAL
            results.append(
                UpdateResult(
                    host.hostname, status, dns.rcode.to_text(rcode), "", host.ipv4, host.ipv6
                )
            )
        return results


class _Rfc2136Module(types.ModuleType):
    PROVIDER = StandinRfc2136


def install() -> None:
    if "dyndns2" not in providers.names():
        providers.register("dyndns2", "tests.agent.standin")
    if "duckdns" not in providers.names():
        sys.modules["tests.agent.standin_token"] = _TokenModule("tests.agent.standin_token")
        providers.register("duckdns", "tests.agent.standin_token")
    if "rfc2136" not in providers.names():
        sys.modules["tests.agent.standin_rfc2136"] = _Rfc2136Module("tests.agent.standin_rfc2136")
        providers.register("rfc2136", "tests.agent.standin_rfc2136")
    if importlib.util.find_spec("homeport.io.provider_client") is None:
        module = types.ModuleType("homeport.io.provider_client")
        module.render_flow_dry_run = render_flow_dry_run  # type: ignore[attr-defined]
        module.send_dns = send_dns  # type: ignore[attr-defined]
        sys.modules["homeport.io.provider_client"] = module


if __name__ == "__main__":
    install()
    from homeport.cli import main

    sys.argv[0] = "homeport"
    main(sys.argv[1:])
