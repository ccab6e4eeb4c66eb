"""What the doctor looks at, hop by hop: each function gathers evidence for core.doctor.

Traffic goes only where the user pointed homeport: the router (the default
gateway), the configured homeport server, and the zone's authoritative DNS
servers as that server's DNS names them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any

from homeport.core.doctor import Address, DnsEvidence, RouterEvidence, parse_address
from homeport.errors import HomeportError
from homeport.proto import procnet
from homeport.proto.ifaddr import IFA_F_PERMANENT


@dataclass(frozen=True)
class ServerAccess:
    """How to reach the homeport server (checkip and probe) and who we are there."""

    url: str  # http://203.0.113.1:8245
    login: str | None = None  # the host's name
    password: str | None = None  # its secret (never printed)

    def __repr__(self) -> str:
        return f"ServerAccess(url={self.url!r}, login={self.login!r}, password=[redacted])"


def listening_addresses(port: int) -> list[Address]:
    found: list[Address] = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            found += procnet.listening(Path(name).read_text(), port)
        except OSError:
            continue
    return found


def lan_address(gateway: str | None) -> tuple[Address | None, bool, float | None]:
    """(this host's LAN address, whether it is dynamic, seconds of lease left)."""
    from homeport.io import routes

    try:
        gw = gateway or routes.default_gateway_v4()
        if gw is None:
            return None, False, None
        lan = ip_address(routes.source_address(str(gw)))
    except (HomeportError, OSError, ValueError):
        return None, False, None
    try:
        from pyroute2 import IPRoute
    except ImportError:
        return lan, False, None
    with IPRoute() as ipr:
        for msg in ipr.get_addr(family=socket.AF_INET):
            if msg.get_attr("IFA_ADDRESS") != str(lan):
                continue
            flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
            cache = msg.get_attr("IFA_CACHEINFO")
            valid = cache.get("ifa_valid") if cache else None
            dynamic = not flags & IFA_F_PERMANENT
            return lan, dynamic, (float(valid) if dynamic and valid is not None else None)
    return lan, False, None


async def router_evidence(
    port: int, gateway: str | None, public: IPv4Address | None
) -> tuple[RouterEvidence, Any]:
    """Ask the router about ``port``; returns the evidence and the router's status."""
    from homeport.portmap.router import Router

    try:
        router = Router(gateway)
    except HomeportError:
        return RouterEvidence((), False, None, None), None
    try:
        status = await router.status(observed_public_ip=public)
        methods = tuple(m.method for m in status.methods if m.answered)
        found: Any = None
        for method in methods:
            mapper = await router.mapper(method)
            if not mapper.can_list:
                continue
            try:
                mappings = await mapper.list()
            except HomeportError:
                continue
            found = next(
                (m for m in mappings if m.external_port == port and m.protocol == "tcp"), None
            )
            if found is not None:
                break
        if found is None and methods:
            found = _remembered_mapping(port)
        target = parse_address(found.internal_host) if found is not None else None
        return (
            RouterEvidence(
                methods,
                found is not None,
                target,
                found.internal_port if found is not None else None,
            ),
            status,
        )
    except HomeportError:
        return RouterEvidence((), False, None, None), None
    finally:
        await router.close()


def _remembered_mapping(port: int) -> Any:
    """NAT-PMP and PCP cannot list a router's table: use what homeport mapped itself."""
    from homeport.portmap.state import StateFile

    try:
        return StateFile().mapping("tcp", port)
    except (HomeportError, OSError, ValueError):
        return None


def reachable_over(url: str, family: socket.AddressFamily) -> bool:
    """False when the URL names a literal address of the other family."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    try:
        literal = ip_address(host)
    except ValueError:
        return True
    return (literal.version == 6) == (family == socket.AF_INET6)


def _connector(family: socket.AddressFamily) -> Any:
    import aiohttp

    return aiohttp.TCPConnector(family=family, use_dns_cache=False)


async def public_address(
    server: ServerAccess, family: socket.AddressFamily, wait: float
) -> Address | None:
    """The address the homeport server sees us at, over ``family``."""
    import aiohttp

    if not reachable_over(server.url, family):
        return None
    try:
        async with (
            aiohttp.ClientSession(
                connector=_connector(family), timeout=aiohttp.ClientTimeout(total=wait)
            ) as session,
            session.get(f"{server.url}/checkip?format=json") as response,
        ):
            data = await response.json(content_type=None)
        return ip_address(str(data["ip"]))
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError, TypeError):
        return None


async def probe(
    server: ServerAccess,
    family: socket.AddressFamily,
    port: int,
    check: str,
    server_name: str | None,
    wait: float,
) -> dict[str, Any]:
    """Ask the server to connect back to us; {"error": ...} when it cannot be asked."""
    import aiohttp

    if not server.login or server.password is None:
        return {"unavailable": "no credentials for the server's probe"}
    if not reachable_over(server.url, family):
        return {"unavailable": f"the server's URL has no {_family_name(family)} address"}
    body: dict[str, Any] = {"port": port, "check": check}
    if server_name:
        body["server_name"] = server_name
    headers = {"Authorization": aiohttp.encode_basic_auth(server.login, server.password)}
    try:
        async with (
            aiohttp.ClientSession(
                connector=_connector(family), timeout=aiohttp.ClientTimeout(total=wait + 10)
            ) as session,
            session.post(f"{server.url}/probe", json=body, headers=headers) as response,
        ):
            data = await response.json(content_type=None)
            if response.status != 200:
                return {"unavailable": f"the server said {response.status}: {data}"}
            return dict(data)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        return {"unavailable": f"cannot reach the server over {_family_name(family)}: {exc}"}


def _family_name(family: socket.AddressFamily) -> str:
    return "IPv6" if family == socket.AF_INET6 else "IPv4"


async def dns_evidence(
    name: str, rdtype: str, bootstrap: tuple[str, int], wait: float
) -> DnsEvidence:
    """Ask the zone's authoritative servers directly (RD=0), never a cache.

    ``bootstrap`` is a server that knows the zone (the homeport server's DNS); it
    names the zone (from the SOA in any answer) and its NS. A name server at the
    bootstrap address is asked on the bootstrap's port (a test server off port 53).
    """
    import dns.asyncquery
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.rdatatype

    fqdn = dns.name.from_text(name)

    async def ask(qname: Any, qtype: str, server: str, port: int) -> Any:
        query = dns.message.make_query(qname, qtype)
        query.flags &= ~dns.flags.RD
        try:
            return await dns.asyncquery.udp(query, server, port=port, timeout=wait)
        except (dns.exception.DNSException, OSError):
            return None

    first = await ask(fqdn, "SOA", *bootstrap)
    if first is None:
        return DnsEvidence(name, rdtype, {}, None, None)
    soa_sets = [r for r in first.answer + first.authority if r.rdtype == dns.rdatatype.SOA]
    if not soa_sets:
        return DnsEvidence(name, rdtype, {}, None, None)
    zone = soa_sets[0].name
    negative_ttl = min(soa_sets[0].ttl, soa_sets[0][0].minimum)
    ns_reply = await ask(zone, "NS", *bootstrap)
    servers: list[str] = []
    if ns_reply is not None:
        glue = {
            (rrset.name, rd.address)
            for rrset in ns_reply.additional
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for rd in rrset
        }
        for rrset in ns_reply.answer:
            if rrset.rdtype != dns.rdatatype.NS:
                continue
            for rd in rrset:
                addresses = [a for owner, a in glue if owner == rd.target]
                if not addresses:
                    reply = await ask(rd.target, "A", *bootstrap)
                    if reply is not None:
                        addresses = [str(x) for rr in reply.answer for x in rr if rr.rdtype == 1]
                servers += addresses
    answers: dict[str, tuple[str, ...] | None] = {}
    ttl: int | None = None
    for server in sorted(set(servers)):
        port = bootstrap[1] if server == bootstrap[0] else 53
        reply = await ask(fqdn, rdtype, server, port)
        if reply is None or not reply.flags & dns.flags.AA:
            answers[f"{server}:{port}"] = None
            continue
        values = sorted(
            str(rd)
            for rr in reply.answer
            if rr.rdtype == dns.rdatatype.from_text(rdtype)
            for rd in rr
        )
        ttl = min((rr.ttl for rr in reply.answer), default=ttl)
        answers[f"{server}:{port}"] = tuple(values)
    return DnsEvidence(name, rdtype, answers, ttl, negative_ttl)
