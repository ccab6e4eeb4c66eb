"""What the doctor looks at, hop by hop: each function gathers evidence for core.doctor.

Traffic goes only where the user pointed homeport: the router (the default
gateway), the configured homeport server, and the zone's authoritative DNS
servers as that server's DNS names them.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from homeport.core.addrpolicy import publishable_ipv6
from homeport.core.doctor import Address, DnsEvidence, RouterEvidence, Unavailable, parse_address
from homeport.errors import HomeportError, RemoteProtocolError, TransportError
from homeport.proto import procnet
from homeport.proto.http1 import Response
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


def lan_address(gateway: str | None) -> tuple[Address | Unavailable | None, bool, float | None]:
    """(this host's LAN address, whether it is dynamic, seconds of lease left); the
    address is None without a default route, Unavailable with the reason when the
    kernel has no route to the gateway."""
    from homeport.io import routes

    gw = gateway or routes.default_gateway_v4()
    if gw is None:
        return None, False, None
    try:
        lan = ip_address(routes.source_address(str(gw)))
    except TransportError as exc:
        return Unavailable(str(exc)), False, None
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
    except HomeportError as exc:
        return RouterEvidence((), False, None, None, failure=Unavailable(str(exc))), None
    try:
        status = await router.status(observed_public_ip=public)
        methods = tuple(m.method for m in status.methods if m.answered)
        found: Any = None
        for method in methods:
            mapper = await router.mapper(method)
            if not mapper.can_list:
                continue
            found = await _mapping_for(mapper, port)
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
    except HomeportError as exc:
        return RouterEvidence((), False, None, None, failure=Unavailable(str(exc))), None
    finally:
        await router.close()


# One more try after a failed request: a router busy adding a mapping (miniupnpd under
# load) can time out a single SOAP call, and one lost answer must not read as "no mapping".
ROUTER_ASK_TRIES = 2


async def _mapping_for(mapper: Any, port: int) -> Any:
    """The router's TCP mapping for ``port``: one GetSpecificPortMappingEntry where the
    router has it (an exact question, not a walk of every entry), else its list."""
    for _ in range(ROUTER_ASK_TRIES):
        try:
            if hasattr(mapper, "find"):
                return await mapper.find("tcp", port)
            mappings = await mapper.list()
        except HomeportError:
            continue
        return next((m for m in mappings if m.external_port == port and m.protocol == "tcp"), None)
    return None


def _remembered_mapping(port: int) -> Any:
    """NAT-PMP and PCP cannot list a router's table: use what homeport mapped itself."""
    from homeport.portmap.state import StateFile

    try:
        return StateFile().mapping("tcp", port)
    except (HomeportError, OSError, ValueError):
        return None


def reachable_over(url: str, family: socket.AddressFamily) -> bool:
    """False when the URL names a literal address of the other family."""
    host = urlsplit(url).hostname or ""
    try:
        literal = ip_address(host)
    except ValueError:
        return True
    return (literal.version == 6) == (family == socket.AF_INET6)


def own_ipv6() -> IPv6Address | None:
    """The IPv6 address the agent publishes for this host (core.addrpolicy), if any."""
    from homeport.io import routes

    try:
        found = publishable_ipv6(routes.interface_addresses_v6())
    except TransportError:  # no /proc/net/if_inet6: IPv6 is off in this kernel
        return None
    return found[0].address if found else None


def _source_for(url: str, family: socket.AddressFamily) -> str | None:
    """Over IPv6, speak from the address the agent publishes: the kernel would prefer a
    temporary address (RFC 6724 rule 7), so checkip and the probe would see, and test,
    an address that is not in DNS. Loopback servers (tests) keep the kernel's choice."""
    if family != socket.AF_INET6:
        return None
    host = urlsplit(url).hostname or ""
    try:
        if ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    own = own_ipv6()
    return str(own) if own is not None else None


def _why(exc: HomeportError) -> str:
    """io.http's reason, with a refusal named as one: asyncio words it "Connect call
    failed", which does not say that the host answered with a reset."""
    if isinstance(exc.__cause__, ConnectionRefusedError):
        return f"connection refused ({exc})"
    return str(exc)


async def _http(
    method: str,
    url: str,
    family: socket.AddressFamily,
    wait: float,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> Response:
    """One exchange over ``family`` with the shipped HTTP client; TransportError or
    RemoteProtocolError when it fails (the only failures that mean "this hop failed")."""
    from homeport.io import http

    return await http.request(
        method,
        url,
        time_limit=wait,
        headers=headers,
        body=body,
        family=6 if family == socket.AF_INET6 else 4,
        local_address=_source_for(url, family),
    )


async def public_address(
    server: ServerAccess, family: socket.AddressFamily, wait: float
) -> Address | Unavailable:
    """The address the homeport server sees us at over ``family``, or why it is unknown."""
    label = f"checkip over {_family_name(family)}"
    if not reachable_over(server.url, family):
        return Unavailable(f"{label}: the server's URL has no {_family_name(family)} address")
    try:
        response = await _http("GET", f"{server.url}/checkip?format=json", family, wait)
    except (TransportError, RemoteProtocolError) as exc:
        return Unavailable(f"{label} at {server.url}: {_why(exc)}")
    if response.status != 200:
        return Unavailable(f"{label} at {server.url}: the server said HTTP {response.status}")
    try:
        data = json.loads(response.body)
        if isinstance(data, dict) and isinstance(data.get("ip"), str):
            return ip_address(data["ip"])
    except ValueError:  # not JSON (json.JSONDecodeError), or not an address
        pass
    return Unavailable(f"{label} at {server.url}: the answer holds no IP address")


async def probe(
    server: ServerAccess,
    family: socket.AddressFamily,
    port: int,
    check: str,
    server_name: str | None,
    wait: float,
) -> dict[str, Any] | Unavailable:
    """Ask the server to connect back to us: its JSON answer, or why it could not be asked."""
    from homeport.providers._common import basic_auth

    label = f"the probe over {_family_name(family)}"
    if not server.login or server.password is None:
        return Unavailable("no credentials for the server's probe")
    if not reachable_over(server.url, family):
        return Unavailable(f"the server's URL has no {_family_name(family)} address")
    request: dict[str, Any] = {"port": port, "check": check}
    if server_name:
        request["server_name"] = server_name
    headers = (
        ("Authorization", basic_auth(server.login, server.password)),
        ("Content-Type", "application/json"),
    )
    try:
        # The server waits up to its own probe timeout before it answers.
        response = await _http(
            "POST",
            f"{server.url}/probe",
            family,
            wait + 10,
            headers,
            json.dumps(request).encode(),
        )
    except (TransportError, RemoteProtocolError) as exc:
        return Unavailable(f"{label}: cannot reach {server.url}: {_why(exc)}")
    try:
        data = json.loads(response.body)
    except ValueError:
        data = None
    if response.status != 200 or not isinstance(data, dict):
        detail = data.get("error") if isinstance(data, dict) else None
        said = f"HTTP {response.status}" + (f" {detail}" if detail else "")
        hint = " (check --login and the password)" if response.status == 401 else ""
        return Unavailable(f"{label}: the server said {said}{hint}")
    return data


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
    failures: list[Unavailable] = []

    async def ask(qname: Any, qtype: str, server: str, port: int) -> Any:
        query = dns.message.make_query(qname, qtype)
        query.flags &= ~dns.flags.RD
        where = f"{qname} {qtype} at {server}:{port}"
        try:
            return await dns.asyncquery.udp(query, server, port=port, timeout=wait)
        except dns.exception.Timeout:
            failures.append(Unavailable(f"{where}: no answer within {wait:g} s"))
        except (dns.exception.DNSException, OSError) as exc:
            failures.append(Unavailable(f"{where}: {exc}"))
        return None

    first = await ask(fqdn, "SOA", *bootstrap)
    if first is None:
        return DnsEvidence(name, rdtype, {}, None, None, tuple(failures))
    soa_sets = [r for r in first.answer + first.authority if r.rdtype == dns.rdatatype.SOA]
    if not soa_sets:
        failures.append(Unavailable(f"{bootstrap[0]}:{bootstrap[1]} knows no zone for {name}"))
        return DnsEvidence(name, rdtype, {}, None, None, tuple(failures))
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
        if reply is not None and not reply.flags & dns.flags.AA:
            failures.append(Unavailable(f"{server}:{port} is not authoritative for {name}"))
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
    return DnsEvidence(name, rdtype, answers, ttl, negative_ttl, tuple(failures))
