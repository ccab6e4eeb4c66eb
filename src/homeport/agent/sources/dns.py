"""Ask DNS who we are: OpenDNS, Cloudflare's whoami, or a homeport server.

- ``opendns``: A/AAAA ``myip.opendns.com`` at OpenDNS's resolvers answers the
  querying address;
- ``cloudflare``: TXT class CH ``whoami.cloudflare`` at 1.1.1.1 answers it as text;
- ``homeport``: A/AAAA (or TXT) of ``qname`` at a homeport server's DNS.

``resolver`` overrides the server address (tests point it at 127.0.0.1).
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Literal

import pydantic

from homeport.agent.sources import Address, Family, SourceSettings
from homeport.errors import RemoteProtocolError, TransportError

# The services' own resolvers; the trick only works when asking them directly.
RESOLVERS = {
    ("opendns", 4): "208.67.222.222",
    ("opendns", 6): "2620:119:35::35",
    ("cloudflare", 4): "1.1.1.1",
    ("cloudflare", 6): "2606:4700:4700::1111",
}
QNAMES = {"opendns": "myip.opendns.com", "cloudflare": "whoami.cloudflare"}


class Settings(SourceSettings):
    type: Literal["dns"] = "dns"
    kind: Literal["opendns", "cloudflare", "homeport"] = "opendns"
    resolver: str | None = None
    port: int = pydantic.Field(default=53, ge=1, le=65535)
    qname: str | None = None

    @pydantic.model_validator(mode="after")
    def _homeport_needs_names(self) -> Settings:
        if self.kind == "homeport" and not (self.resolver and self.qname):
            raise ValueError('kind = "homeport" needs resolver and qname')
        return self

    def describe(self) -> str:
        return self.label or f"dns:{self.kind}"


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    import dns.asyncquery
    import dns.exception
    import dns.message
    import dns.rdataclass
    import dns.rdatatype

    resolver = settings.resolver or RESOLVERS[(settings.kind, family)]
    qname = settings.qname or QNAMES[settings.kind]
    if settings.kind == "cloudflare":
        query = dns.message.make_query(qname, dns.rdatatype.TXT, dns.rdataclass.CH)
    else:
        query = dns.message.make_query(
            qname, dns.rdatatype.A if family == 4 else dns.rdatatype.AAAA
        )
    try:
        answer = await dns.asyncquery.udp(query, resolver, timeout=time_limit, port=settings.port)
    except dns.exception.Timeout as exc:
        raise TransportError(f"DNS {resolver}: no answer within {time_limit:g} s") from exc
    except (OSError, dns.exception.DNSException) as exc:
        raise TransportError(f"DNS {resolver}: {exc}") from exc
    for rrset in answer.answer:
        for rdata in rrset:
            texts = [b.decode("ascii", "replace") for b in getattr(rdata, "strings", ())]
            for text in texts or [rdata.to_text()]:
                try:
                    address = ip_address(text.strip('"'))
                except ValueError:
                    continue
                if address.version == family:
                    return address
    raise RemoteProtocolError(f"DNS {resolver}: no IPv{family} address for {qname}")
