"""Walk the hops in order and collect one :class:`~homeport.core.doctor.Check` per finding."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address
from typing import Any
from urllib.parse import urlsplit

from homeport.core import doctor
from homeport.core.doctor import Address, Check, Unavailable, Verdict
from homeport.doctor import gather
from homeport.doctor.gather import ServerAccess
from homeport.doctor.relay import TunnelTarget, relay_address, relay_evidence, report_for

# Per network step: long enough for a slow uplink, short enough to finish a full run
# in well under a minute when everything times out.
DEFAULT_WAIT = 5.0


@dataclass(frozen=True)
class Target:
    name: str  # the public name, e.g. myhome.example.net
    port: int
    tls: bool = False


@dataclass(frozen=True)
class DoctorPlan:
    targets: tuple[Target, ...]
    # One homeport server, or one URL per family (an IPv4 and an IPv6 literal).
    servers: tuple[ServerAccess, ...] = ()
    dns: tuple[str, int] | None = None  # a DNS server that knows the zone
    gateway: str | None = None
    wait: float = DEFAULT_WAIT
    router: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)
    # [[tunnel]] entries and the agent's reports on them (doctor.relay): the relay hop.
    tunnels: tuple[TunnelTarget, ...] = ()
    tunnel_reports: tuple[dict[str, Any], ...] = ()


def _server_host(server: ServerAccess) -> str | None:
    host = urlsplit(server.url).hostname
    try:
        return str(ip_address(host)) if host else None
    except ValueError:
        return None


def _server_for(plan: DoctorPlan, family: socket.AddressFamily) -> ServerAccess | None:
    return next((s for s in plan.servers if gather.reachable_over(s.url, family)), None)


async def run(plan: DoctorPlan) -> list[Check]:
    checks: list[Check] = []
    # pyroute2's synchronous API runs an event loop of its own: keep it off ours.
    found_lan, dynamic, lease = await asyncio.to_thread(gather.lan_address, plan.gateway)
    lan = None if isinstance(found_lan, Unavailable) else found_lan
    ports = sorted({t.port for t in plan.targets})

    server4 = _server_for(plan, socket.AF_INET)
    server6 = _server_for(plan, socket.AF_INET6)
    public4: Address | Unavailable | None = None
    public6: Address | Unavailable | None = None
    if server4 is not None:
        public4 = await gather.public_address(server4, socket.AF_INET, plan.wait)
    if server6 is not None:
        public6 = await gather.public_address(server6, socket.AF_INET6, plan.wait)

    # 1. the service listens
    listening_on: dict[int, bool] = {}
    for port in ports:
        check = doctor.judge_listening(port, gather.listening_addresses(port), lan)
        listening_on[port] = check.verdict is Verdict.OK
        checks.append(check)

    # 2. the LAN address is stable
    checks.append(doctor.judge_lan_address(found_lan, dynamic, lease))

    # 3. the router maps each port, and 4. the NAT in front of us
    mapped: dict[int, bool] = {}
    router_status = None
    if plan.router:
        for port in ports:
            evidence, status = await gather.router_evidence(
                port, plan.gateway, public4 if isinstance(public4, IPv4Address) else None
            )
            router_status = router_status or status
            mapped[port] = evidence.mapping_found
            checks.append(doctor.judge_router(port, lan, evidence))
    else:
        checks.append(Check("router", Verdict.SKIPPED, "router checks turned off (--no-router)"))
    hops: list[IPv4Address | None] = []
    server_ip = _server_host(server4) if server4 else None
    if server_ip is not None and ":" not in server_ip:
        from homeport.io.hops import first_hops

        hops = await first_hops(server_ip, count=3, wait=min(plan.wait, 1.0))
    checks.append(
        doctor.judge_nat(
            router_status.external_ip if router_status is not None else None,
            public4,
            hops,
            router_status.verdict.kind if router_status is not None else None,
            router_status.verdict.reasons if router_status is not None else (),
        )
    )

    # While a name is relayed, its A record is the relay's address (the server switches it)
    # and the probe cannot reach it (it connects only to our own public address).
    relayed: dict[str, Address | None] = {}
    for tunnel in plan.tunnels:
        report = report_for(tunnel, plan.tunnel_reports)
        if report is not None and report.get("state") == "up" and tunnel.host not in relayed:
            found = await relay_address(tunnel.relay[0], (), plan.wait)
            relayed[tunnel.host] = doctor.parse_address(found)

    # 5. DNS at the authoritative servers
    dns_server = plan.dns or ((server_ip, 53) if server_ip else None)
    published6: set[str] = set()
    answers_a: dict[str, list[str]] = {}
    names = {t.name for t in plan.targets} | {t.host for t in plan.tunnels}
    for name in sorted(names):
        if dns_server is None:
            checks.append(Check("dns", Verdict.SKIPPED, "no DNS server to ask (--dns)", "", name))
            continue
        for rdtype, expected in (("A", relayed.get(name, public4)), ("AAAA", public6)):
            answers = await gather.dns_evidence(name, rdtype, dns_server, plan.wait)
            if rdtype == "A":
                answers_a[name] = [a for got in answers.servers.values() for a in got or ()]
            if rdtype == "AAAA" and doctor.nothing_published(answers):
                checks.append(doctor.judge_unpublished(answers))
                continue
            if rdtype == "AAAA":
                published6.add(name)
            checks.append(doctor.judge_dns(answers, expected))

    # 6. reachable from outside, per family, and 7. TLS
    for target in plan.targets:
        families = [(socket.AF_INET, "IPv4", server4, public4)]
        if target.name in published6 or dns_server is None:
            families.append((socket.AF_INET6, "IPv6", server6, public6))
        for family, label, server, public in families:
            if target.name in relayed:
                checks.append(
                    Check(
                        "reachable",
                        Verdict.SKIPPED,
                        f"{target.name} is relayed: checked through the relay (the relay hop)",
                        "",
                        f"port {target.port} {label}",
                    )
                )
                continue
            if server is None or public is None or isinstance(public, Unavailable):
                why = f"no server for {label}" if server is None else str(public)
                checks.append(doctor.judge_reachable(target.port, label, None, why, False, True))
                continue
            result = await gather.probe(server, family, target.port, "tcp", target.name, plan.wait)
            if isinstance(result, Unavailable):
                checks.append(
                    doctor.judge_reachable(target.port, label, None, str(result), False, True)
                )
                continue
            checks.append(
                doctor.judge_reachable(
                    target.port,
                    label,
                    bool(result.get("reachable")),
                    result.get("error"),
                    mapped.get(target.port) if plan.router else None,
                    listening_on.get(target.port, False),
                )
            )
            if target.tls and result.get("reachable"):
                tls = await gather.probe(server, family, target.port, "tls", target.name, plan.wait)
                if isinstance(tls, Unavailable):
                    checks.append(doctor.judge_tls(target.name, [], None, str(tls)))
                    continue
                info = tls.get("tls") or {}
                checks.append(
                    doctor.judge_tls(
                        target.name,
                        list(info.get("names", [])),
                        info.get("days_left"),
                        tls.get("error"),
                    )
                )

    # 6b. reachable through the relay, end to end
    for tunnel in plan.tunnels:
        report = report_for(tunnel, plan.tunnel_reports)
        seen = await relay_evidence(tunnel, report, answers_a.get(tunnel.host, ()), plan.wait)
        checks.append(doctor.judge_relay(seen))
    return checks
