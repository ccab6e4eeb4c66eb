"""Port-mapping decisions: when to renew, whether the router rebooted, whether NAT is nested.

Pure: every function takes the time (``now``, seconds on a monotonic clock) and the evidence
as arguments. The keeper (portmap/mapping_keeper.py) and ``homeport map`` execute what these decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_network

# Renew at half the granted lease: RFC 6886 §3.3 ("the client SHOULD begin trying to renew
# the mapping halfway to expiry"); RFC 6887 §11.2.1 allows 1/2..5/8 of the lifetime.
RENEW_FRACTION = 0.5
# Never renew more often than this, whatever the router grants (a 1 s lease would spin).
MIN_RENEW_INTERVAL = 1.0
# A lease of 0 is "permanent" (IGDv1) or 604800 s (IGDv2, miniupnpd): still check the mapping
# this often with GetSpecificPortMappingEntry, since a router reboot forgets it.
CHECK_INTERVAL = 300.0
# After a failed renewal, retry at this interval (doubling) until the lease would have expired.
RETRY_INITIAL = 2.0
RETRY_MAX = 60.0

CGNAT_NET = ip_network("100.64.0.0/10")  # RFC 6598 shared address space (carrier-grade NAT)
PRIVATE_NETS = tuple(
    ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # RFC 1918
)
# What each method answers behind CGNAT (miniupnpd 2.3 seen in the lab): a refusal
# with one of these codes says "the router itself cannot forward", not "this port is taken".
CGNAT_REFUSALS = {
    "upnp": {501, 606, 728},  # Action Failed; not authorized; NoPortMapsAvailable
    "natpmp": {2, 3},  # RFC 6886: not authorized / network failure
    "pcp": {2, 7, 8, 11},  # NOT_AUTHORIZED, NETWORK_FAILURE, NO_RESOURCES, CANNOT_PROVIDE_EXT
}

ADVICE = (
    "No port mapping on this router can be reached from the internet. Instead: use IPv6 "
    "(`homeport map add PORT --ipv6` opens a pinhole if your ISP gives you IPv6), run a tunnel "
    "(WireGuard/SSH) to a small VPS that relays the port, or ask your ISP for a public IPv4 "
    "address (or, for double NAT, put this router in the modem's DMZ / bridge mode)."
)


def renew_at(granted_at: float, lease: int) -> float:
    """When to renew a mapping granted at ``granted_at`` for ``lease`` seconds."""
    if lease <= 0:
        return granted_at + CHECK_INTERVAL
    return granted_at + max(MIN_RENEW_INTERVAL, min(lease * RENEW_FRACTION, CHECK_INTERVAL * 12))


def retry_delay(failures: int) -> float:
    """Backoff after ``failures`` (>= 1) consecutive failed renewals."""
    return float(min(RETRY_MAX, RETRY_INITIAL * 2 ** max(0, failures - 1)))


@dataclass(frozen=True)
class EpochSample:
    """A server epoch (seconds since its state began) and our clock when it arrived."""

    epoch: int
    at: float


def natpmp_lost_state(previous: EpochSample | None, current: EpochSample) -> bool:
    """RFC 6886 §3.6: the server lost its mappings if its epoch is smaller than the previous
    one plus 7/8 of the time elapsed on our clock, minus 2 s of slack."""
    if previous is None:
        return False
    elapsed = current.at - previous.at
    return current.epoch + 2 < previous.epoch + elapsed * 7 / 8


def pcp_lost_state(previous: EpochSample | None, current: EpochSample) -> bool:
    """RFC 6887 §8.5: epoch went backwards (by more than 1 s), or the two clocks' deltas
    disagree by more than 2 s + 1/16."""
    if previous is None:
        return False
    if current.epoch + 1 < previous.epoch:
        return True
    client_delta = current.at - previous.at
    server_delta = current.epoch - previous.epoch
    return (
        client_delta + 2 < server_delta - server_delta / 16
        or server_delta + 2 < client_delta - client_delta / 16
    )


@dataclass(frozen=True)
class Refusal:
    method: str  # "upnp" | "natpmp" | "pcp"
    code: int


@dataclass(frozen=True)
class NatEvidence:
    """What we learned about the path to the internet.

    ``answered``: methods that responded at all; ``granted``: methods that made a mapping;
    ``refusals``: methods that answered a mapping request with an error code.
    """

    router_external_ip: IPv4Address | IPv6Address | None = None
    observed_public_ip: IPv4Address | IPv6Address | None = None
    answered: tuple[str, ...] = ()
    granted: tuple[str, ...] = ()
    refusals: tuple[Refusal, ...] = ()


@dataclass(frozen=True)
class NatVerdict:
    kind: str  # "ok" | "cgnat" | "double-nat" | "unknown"
    reasons: tuple[str, ...]

    @property
    def mapping_possible(self) -> bool:
        return self.kind in ("ok", "unknown")

    def explanation(self) -> str:
        if self.kind == "ok":
            return "This router maps ports; mappings are reachable from the internet."
        if self.kind == "unknown":
            return "No port-mapping method answered; nothing is known about the NAT."
        name = "CGNAT (carrier-grade NAT)" if self.kind == "cgnat" else "double NAT"
        return f"Behind {name} or double NAT: {'; '.join(self.reasons)}. {ADVICE}"


def _in(addr: IPv4Address | IPv6Address, nets: tuple[IPv4Network, ...]) -> bool:
    return isinstance(addr, IPv4Address) and any(addr in net for net in nets)


def nat_verdict(evidence: NatEvidence) -> NatVerdict:
    """Decide from evidence whether mappings on this router can be reached from outside.

    Never from GetExternalIPAddress alone: miniupnpd behind CGNAT reports Connected and the
    carrier's public address, and then refuses every mapping.
    """
    ext = evidence.router_external_ip
    if ext is not None and _in(ext, (CGNAT_NET,)):  # type: ignore[arg-type]
        return NatVerdict("cgnat", (f"the router's WAN address {ext} is in 100.64.0.0/10",))
    if ext is not None and _in(ext, PRIVATE_NETS):  # type: ignore[arg-type]
        return NatVerdict("double-nat", (f"the router's WAN address {ext} is private (RFC 1918)",))
    observed = evidence.observed_public_ip
    if (
        ext is not None
        and observed is not None
        and ext.version == observed.version
        and ext != observed
    ):
        return NatVerdict(
            "cgnat",
            (f"the router says its address is {ext}, but the internet sees {observed}",),
        )
    if evidence.granted:
        return NatVerdict("ok", (f"{', '.join(evidence.granted)} granted a mapping",))
    refused = {r.method for r in evidence.refusals if r.code in CGNAT_REFUSALS.get(r.method, ())}
    if evidence.answered and refused >= set(evidence.answered):
        codes = ", ".join(f"{r.method} {r.code}" for r in evidence.refusals)
        return NatVerdict("cgnat", (f"every method refused to map a port ({codes})",))
    return NatVerdict("unknown", ())
