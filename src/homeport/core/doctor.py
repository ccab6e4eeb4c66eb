"""The doctor's verdicts: evidence in, a verdict with its fix out (pure).

Each ``judge_*`` function takes what the I/O side gathered about one hop and
says ok / warn / fail / skipped, with the evidence in one line and the fix in
one or two sentences. The hops follow the seed guides' troubleshooting list,
from the service outwards (the order of :data:`ORDER`).
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

# RFC 6598 shared address space: the carrier side of carrier-grade NAT.
CGNAT_RANGE = IPv4Network("100.64.0.0/10")
# Certificates renewed by ACME clients are replaced 30 days before expiry (certbot's
# default); fewer days left means renewal is failing.
CERT_WARN_DAYS = 30.0
# A DHCP lease shorter than this is likely to hand the host another address after
# an outage long enough to matter; a port mapping would then point nowhere.
SHORT_LEASE_SECONDS = 7 * 24 * 3600


class Verdict(enum.IntEnum):
    """Ordered by severity, so the worst of several is ``max``."""

    OK = 0
    SKIPPED = 1
    WARN = 2
    FAIL = 3


# Exit codes: scripts can tell "works" from "works, but look" from "broken".
EXIT_CODES = {Verdict.OK: 0, Verdict.SKIPPED: 0, Verdict.WARN: 1, Verdict.FAIL: 2}

ORDER = ("listening", "lan-address", "router", "nat", "dns", "reachable", "relay", "tls")


@dataclass(frozen=True)
class Check:
    hop: str  # one of ORDER
    verdict: Verdict
    evidence: str
    fix: str = ""
    subject: str = ""  # e.g. "myhome.example.net:888", "IPv6"
    details: dict[str, object] = field(default_factory=dict)


def worst(checks: Iterable[Check]) -> Verdict:
    return max((c.verdict for c in checks), default=Verdict.OK)


def exit_code(checks: Iterable[Check]) -> int:
    return EXIT_CODES[worst(checks)]


Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class Unavailable:
    """Evidence a gather step could not get, and why ("checkip over IPv4: connection
    refused"): the verdict shows the reason, since finding it is the doctor's job."""

    reason: str

    def __str__(self) -> str:
        return self.reason


def _because(missing: Unavailable | None, otherwise: str = "") -> str:
    """`` (reason)`` to append to evidence that is missing for a known reason."""
    return f" ({missing})" if missing is not None else otherwise


# RFC 1918 (and RFC 4193 for IPv6). Not ipaddress's is_private, which also counts the
# documentation ranges (RFC 5737) that test networks use as public addresses.
PRIVATE_V4 = tuple(IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
ULA = IPv6Network("fc00::/7")


# -- 1. the service listens ----------------------------------------------------------


def judge_listening(port: int, listening: Sequence[Address], lan: Address | None) -> Check:
    """``listening``: the local addresses with a socket in LISTEN on ``port``."""
    subject = f"port {port}"
    if not listening:
        return Check(
            "listening",
            Verdict.FAIL,
            f"nothing is listening on TCP port {port}",
            "Start the service (and check its port), e.g. `ss -ltnp` shows what listens.",
            subject,
        )
    shown = ", ".join(sorted({str(a) for a in listening}))
    wildcard = any(a.is_unspecified for a in listening)
    reachable_from_lan = wildcard or (lan is not None and lan in listening)
    if not reachable_from_lan:
        return Check(
            "listening",
            Verdict.FAIL,
            f"port {port} listens only on {shown}",
            "Bind the service to 0.0.0.0 (or this host's LAN address) instead of loopback.",
            subject,
        )
    return Check("listening", Verdict.OK, f"port {port} listens on {shown}", "", subject)


# -- 2. the LAN address is stable ----------------------------------------------------


def judge_lan_address(
    lan: Address | Unavailable | None, dynamic: bool, lease_seconds: float | None
) -> Check:
    if lan is None or isinstance(lan, Unavailable):
        return Check(
            "lan-address",
            Verdict.FAIL,
            f"no LAN address{_because(lan, ' with a default route')}",
            "Connect this host to the router's network.",
        )
    if not dynamic:
        return Check("lan-address", Verdict.OK, f"{lan} is configured statically")
    lease = f", lease {int(lease_seconds)} s left" if lease_seconds is not None else ""
    short = lease_seconds is not None and lease_seconds < SHORT_LEASE_SECONDS
    return Check(
        "lan-address",
        Verdict.WARN,
        f"{lan} comes from DHCP{lease}" + (" (short)" if short else ""),
        "Reserve this address for this host in the router's DHCP settings, so port "
        "mappings keep pointing at it.",
    )


# -- 3. a router maps the port -------------------------------------------------------


@dataclass(frozen=True)
class RouterEvidence:
    methods: tuple[str, ...]  # protocols that answered: "upnp", "natpmp", "pcp"
    mapping_found: bool  # a mapping for the external port exists
    mapping_target: Address | None  # where it points
    mapping_port: int | None
    refused_code: str | None = None  # e.g. "UPnP 501", "NAT-PMP 3"
    failure: Unavailable | None = None  # why the router could not be asked at all


def judge_router(port: int, lan: Address | None, ev: RouterEvidence) -> Check:
    subject = f"port {port}"
    if not ev.methods:
        return Check(
            "router",
            Verdict.WARN,
            f"no router answered UPnP IGD, NAT-PMP or PCP{_because(ev.failure)}",
            "Enable UPnP or NAT-PMP on the router, or forward the port by hand in its admin page.",
            subject,
        )
    methods = "/".join(ev.methods)
    if not ev.mapping_found:
        return Check(
            "router",
            Verdict.FAIL,
            f"the router answers {methods} but has no mapping for port {port}",
            f"Run `homeport map add {port}` or add [[mapping]] external_port = {port} to the "
            "agent's config so it is kept alive.",
            subject,
        )
    if lan is not None and ev.mapping_target is not None and ev.mapping_target != lan:
        return Check(
            "router",
            Verdict.FAIL,
            f"port {port} is mapped to {ev.mapping_target}, not to this host ({lan})",
            f"Remove it (`homeport map rm {port}`) and map it again from this host.",
            subject,
        )
    to = f" -> {ev.mapping_target}:{ev.mapping_port}" if ev.mapping_target else ""
    return Check("router", Verdict.OK, f"{methods}: port {port} mapped{to}", "", subject)


# -- 4. NAT: the router's external address is the public one -------------------------


def judge_nat(
    router_external: Address | None,
    public: Address | Unavailable | None,
    hops: Sequence[Address | None] = (),
    router_verdict: str | None = None,
    router_reasons: Sequence[str] = (),
) -> Check:
    """CGNAT / double NAT: never infer reachability from the router's word.

    ``hops`` are the first routers on the way to the server (hop 1 is ours); a
    private or shared (100.64/10) address after ours means another NAT upstream.
    ``router_verdict`` is the port-mapping verdict ("ok", "cgnat", "double-nat",
    "unknown"): behind CGNAT the router still answers, but refuses every mapping.
    """
    fallbacks = (
        "A port mapping cannot reach you: use IPv6 if the ISP offers it, a tunnel "
        "(e.g. `ssh -R` or WireGuard) to a VPS relay, or ask the ISP for a public IPv4 address."
    )
    upstream = [h for h in list(hops)[1:] if h is not None and _private(h)]
    if public is None or isinstance(public, Unavailable):
        return Check(
            "nat",
            Verdict.SKIPPED,
            f"the public address is unknown{_because(public, ' (no checkip answer)')}",
            "Configure a checkip source (a homeport server) so the public address is known.",
        )
    if router_verdict == "cgnat" or (
        router_external is not None
        and router_external.version == public.version
        and router_external != public
    ):
        reasons = list(router_reasons)
        if router_external is not None and router_external != public:
            reasons.append(f"the router says {router_external}, the internet sees {public}")
        if upstream:
            reasons.append(f"upstream NAT at {upstream[0]}")
        return Check(
            "nat",
            Verdict.FAIL,
            "CGNAT: " + ("; ".join(reasons) or "the ISP's NAT sits in front of the router"),
            fallbacks,
            details={"kind": "cgnat"},
        )
    if upstream or router_verdict == "double-nat":
        where = f" ({upstream[0]} is the next hop)" if upstream else ""
        return Check(
            "nat",
            Verdict.WARN,
            f"double NAT: another router sits between this one and the internet{where}; "
            f"the internet sees {public}",
            "It works only while the upstream router forwards to this one (DMZ or a port "
            "forward): keep that rule, or put the upstream box in bridge mode.",
            details={"kind": "double-nat"},
        )
    return Check("nat", Verdict.OK, f"public address {public} is the router's own")


def _private(address: Address | None) -> bool:
    if address is None:
        return False
    if isinstance(address, IPv4Address):
        return any(address in net for net in PRIVATE_V4) or address in CGNAT_RANGE
    return address in ULA


# -- 5. DNS at the authoritative servers ---------------------------------------------


@dataclass(frozen=True)
class DnsEvidence:
    name: str
    family: str  # "A" | "AAAA"
    servers: dict[str, tuple[str, ...] | None]  # server -> answers (None: no answer)
    ttl: int | None
    negative_ttl: int | None
    failures: tuple[Unavailable, ...] = ()  # the queries that got no answer, and why


def judge_dns(ev: DnsEvidence, expected: Address | Unavailable | None) -> Check:
    subject = f"{ev.name} {ev.family}"
    answered = {s: a for s, a in ev.servers.items() if a is not None}
    why = f" ({'; '.join(str(f) for f in ev.failures)})" if ev.failures else ""
    if not ev.servers:
        return Check(
            "dns",
            Verdict.FAIL,
            f"no authoritative server found for {ev.name}{why}",
            "Check the zone's NS records and delegation at the parent zone.",
            subject,
        )
    if not answered:
        return Check(
            "dns",
            Verdict.FAIL,
            f"none of {', '.join(ev.servers)} answered for {ev.name}{why}",
            "Make sure the DNS server is running and reachable on port 53 (UDP and TCP).",
            subject,
        )
    if expected is None or isinstance(expected, Unavailable):
        return Check(
            "dns",
            Verdict.SKIPPED,
            f"{ev.family} not checked: no public {ev.family} address to compare with"
            + _because(expected),
            "",
            subject,
        )
    stale = {s: a for s, a in answered.items() if tuple(a) != (str(expected),)}
    cache = f"; caches may keep an old answer for up to {ev.ttl} s" if ev.ttl is not None else ""
    if stale:
        shown = "; ".join(f"{s} says {', '.join(a) or 'nothing'}" for s, a in stale.items())
        return Check(
            "dns",
            Verdict.FAIL,
            f"{ev.name} {ev.family} should be {expected}: {shown}{cache}",
            "If the agent is not running, start it; if it is (`homeport agent status`), the "
            "record was changed behind its back: `homeport agent run --once --force` sends it "
            "again.",
            subject,
            {"ttl": ev.ttl},
        )
    return Check(
        "dns",
        Verdict.OK,
        f"{ev.name} {ev.family} = {expected} at {len(answered)} authoritative server(s), "
        f"TTL {ev.ttl}",
        "",
        subject,
        {"ttl": ev.ttl},
    )


def nothing_published(ev: DnsEvidence) -> bool:
    """Every authoritative server answered, and none has a record of this type."""
    return bool(ev.servers) and all(a == () for a in ev.servers.values())


def judge_unpublished(ev: DnsEvidence) -> Check:
    return Check(
        "dns",
        Verdict.OK,
        f"{ev.name} has no {ev.family} record: clients use the other family",
        "",
        f"{ev.name} {ev.family}",
    )


# -- 6. reachable from outside -------------------------------------------------------


def judge_reachable(
    port: int,
    family: str,
    reachable: bool | None,
    error: str | None,
    router_mapped: bool | None,  # None: the router was not asked
    listening: bool,
) -> Check:
    subject = f"port {port} {family}"
    if reachable is None:
        return Check(
            "reachable",
            Verdict.SKIPPED,
            f"no probe over {family}: {error or 'no server to ask'}",
            "",
            subject,
        )
    if reachable:
        return Check(
            "reachable", Verdict.OK, f"the server reached port {port} over {family}", "", subject
        )
    if error == "timeout":
        fix = (
            "Packets are dropped on the way: check the router's and this host's firewall "
            "(e.g. `nft list ruleset`) for the port."
            if router_mapped is not False and listening
            else "Map the port on the router and start the service first."
        )
        evidence = f"port {port} over {family} is filtered (the probe timed out)"
    else:
        fix = (
            "The router forwards, but the service refuses: check the service and the host firewall."
            if router_mapped
            else "Map the port on the router (`homeport map add`)."
        )
        evidence = f"port {port} over {family}: {error}"
    return Check("reachable", Verdict.FAIL, evidence, fix, subject)


# -- 6b. the relay: reachable through the host's tunnel (issue #13) -------------------


@dataclass(frozen=True)
class RelayEvidence:
    """One [[tunnel]]: what the agent's tunnel process last reported, and what a
    connection to the relay's public side for the name got back."""

    host: str
    relay: str  # the relay's control address, as configured
    kind: str  # http | tls | tcp
    port: int
    local: str  # the home service, "ADDR:PORT"
    state: str | None  # the tunnel process's state; None: no agent reports this tunnel
    since: float | None = None  # when the session came up (Unix time)
    error: str = ""
    through: str | None = None  # "ADDR:PUBLIC_PORT" tried end to end (None: not tried)
    answered: bool | None = None  # the home service answered through the relay
    detail: str = ""  # what the end-to-end try saw


def judge_relay(ev: RelayEvidence) -> Check:
    subject = f"{ev.host} {ev.kind} {ev.port}"
    at = f"relay {ev.relay}"
    if ev.state is None:
        return Check(
            "relay",
            Verdict.WARN,
            f"a tunnel to {at} is configured, but no running agent reports it",
            "Start the agent (`homeport agent run --config ...`): it keeps the [[tunnel]] open.",
            subject,
        )
    if ev.state == "direct":
        return Check(
            "relay",
            Verdict.OK,
            f"not relayed: mode auto found a direct path (the router maps port {ev.local})",
            "",
            subject,
        )
    if ev.state == "stopped":
        return Check(
            "relay",
            Verdict.FAIL,
            f"{at} refused the tunnel for good: {ev.error}",
            "Fix the [[tunnel]]'s host, secret or fingerprint, then reload the agent (SIGHUP).",
            subject,
        )
    if ev.state != "up":
        why = f": {ev.error}" if ev.error else ""
        return Check(
            "relay",
            Verdict.FAIL,
            f"the tunnel to {at} is {ev.state}{why}",
            "Check that the relay runs and that its control port is reachable from here; "
            "the agent keeps retrying by itself.",
            subject,
        )
    since = ""
    if ev.since is not None:
        moment = datetime.datetime.fromtimestamp(ev.since, datetime.UTC)
        since = moment.strftime(" (session up since %Y-%m-%d %H:%M:%S UTC)")
    if ev.answered is None:
        return Check(
            "relay",
            Verdict.WARN,
            f"reachable via {at}{since}; not checked end to end: {ev.detail}",
            "",
            subject,
        )
    if not ev.answered:
        return Check(
            "relay",
            Verdict.FAIL,
            f"the session with {at} is up{since}, but {ev.through}: {ev.detail}",
            f"The relay reaches this host but not the service: start it on {ev.local}.",
            subject,
        )
    return Check(
        "relay",
        Verdict.OK,
        f"reachable via {at}{since}: {ev.through} answered ({ev.detail})",
        "",
        subject,
        details={"through": ev.through},
    )


# -- 7. TLS certificate --------------------------------------------------------------


def judge_tls(name: str, names: Sequence[str], days_left: float | None, error: str | None) -> Check:
    if error is not None:
        return Check(
            "tls",
            Verdict.FAIL,
            f"TLS for {name}: {error}",
            "Install a certificate for this name from a public CA (e.g. certbot with the "
            "DNS-01 challenge).",
            name,
        )
    if not covers(name, names):
        return Check(
            "tls",
            Verdict.FAIL,
            f"the certificate names {', '.join(names) or 'nothing'}, not {name}",
            f"Get a certificate that includes {name}.",
            name,
        )
    if days_left is not None and days_left < CERT_WARN_DAYS:
        return Check(
            "tls",
            Verdict.WARN if days_left > 0 else Verdict.FAIL,
            f"the certificate for {name} expires in {days_left:.0f} days",
            "Renewal is failing: run the ACME client by hand (e.g. `certbot renew`) and read "
            "its log.",
            name,
        )
    left = f", {days_left:.0f} days left" if days_left is not None else ""
    return Check("tls", Verdict.OK, f"the certificate covers {name}{left}", "", name)


def covers(name: str, names: Sequence[str]) -> bool:
    """RFC 6125 §6.4.3: exact match, or a wildcard in the leftmost label only."""
    name = name.lower().rstrip(".")
    for pattern in (n.lower().rstrip(".") for n in names):
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def parse_address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        return ip_address(text)
    except ValueError:
        return None
