"""Which of this host's IPv6 addresses may be published (DNS, a router pinhole, the doctor).

One policy for every caller, so the doctor checks the address the agent publishes and
``homeport map add --ipv6`` opens the pinhole to that same address. Input is what
:func:`homeport.proto.procnet.if_inet6` read; nothing here touches the system.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv6Network

from homeport.proto.ifaddr import (
    IFA_F_DADFAILED,
    IFA_F_DEPRECATED,
    IFA_F_TEMPORARY,
    IFA_F_TENTATIVE,
    SCOPE_GLOBAL,
)
from homeport.proto.procnet import InterfaceAddress

# RFC 3849 documentation prefix: test networks (our lab among them) use it as if it were
# global, so it counts as global here although ipaddress calls it private.
DOCUMENTATION_V6 = IPv6Network("2001:db8::/32")
# The loopback device: an address there is never how an outside client reaches this host.
LOOPBACK_INTERFACE = "lo"


def unfit_reason(entry: InterfaceAddress) -> str | None:
    """Why ``entry`` must not be published, or None when it may be."""
    if entry.scope != SCOPE_GLOBAL:
        # Link- and host-scoped addresses mean nothing off this link (RFC 4291 §2.5.6).
        return "not global scope"
    if entry.flags & IFA_F_DADFAILED:
        # RFC 4862 §5.4.5: another node holds this address; the kernel disabled it.
        return "duplicate address detection failed"
    if entry.flags & IFA_F_TENTATIVE:
        # RFC 4862 §5.4: until DAD succeeds the address is not assigned; packets to it are
        # dropped. The agent looks again once netlink says it became final.
        return "tentative (duplicate address detection running)"
    if entry.flags & IFA_F_DEPRECATED:
        # RFC 4862 §5.5.4: past its preferred lifetime; it is about to go away and new
        # connections should not use it.
        return "deprecated"
    if entry.flags & IFA_F_TEMPORARY:
        # RFC 8981 (was RFC 4941): a privacy address, made for outgoing connections and
        # replaced at least daily (TEMP_PREFERRED_LIFETIME, §3.8). Publishing one would
        # churn the name and undo the privacy it exists for, and a pinhole to it dies
        # with it. Never a fallback: no stable address means nothing to publish.
        return "temporary (privacy address)"
    if not (entry.address.is_global or entry.address in DOCUMENTATION_V6):
        # The kernel gives ULAs (fc00::/7, RFC 4193) global scope, but the internet
        # cannot route to them.
        return "not a globally routed address"
    return None


def publishable_ipv6(
    entries: Iterable[InterfaceAddress], interface: str | None = None
) -> list[InterfaceAddress]:
    """The addresses fit to publish, only ``interface``'s when given, else any but
    loopback's. In the kernel's order: a hash-table order, the same on every read of an
    unchanged table, so the first pick does not flap between runs."""
    return [
        e
        for e in entries
        if (e.name == interface if interface is not None else e.name != LOOPBACK_INTERFACE)
        and unfit_reason(e) is None
    ]
