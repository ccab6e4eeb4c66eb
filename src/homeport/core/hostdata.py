"""What the server may publish: names, addresses and TXT values, checked where they enter.

The rule (docs/architecture.md): *validate at the edge, and nothing that was accepted can
fail later*. Every value the update APIs or the admin commands accept must
render into the zone, on this run and on every restart; so each check here is
at least as strict as the renderer (:mod:`homeport.core.zone`, dnspython) and
the stores (PostgreSQL text holds no NUL).

Each ``*_problem`` function returns None for an acceptable value, else a short
reason fit for a one-line error.
"""

from __future__ import annotations

import re
import unicodedata
from ipaddress import IPv4Address, IPv4Network, IPv6Address

import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT

from homeport.core.consensus import CGNAT, DOCUMENTATION

# -- names ----------------------------------------------------------------------------

# RFC 1035 §2.3.4 / RFC 1123 §2.1: letters, digits and hyphens, 63 octets a label; the
# underscore for service labels (RFC 8552: _acme-challenge). 253 characters in all
# keep the wire form within 255 octets.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
MAX_NAME_LENGTH = 253


def name_problem(name: str, *, min_labels: int = 2) -> str | None:
    """Why ``name`` (lower case, no trailing dot) cannot be a host or zone name."""
    if not 0 < len(name) <= MAX_NAME_LENGTH:
        return f"a name has 1-{MAX_NAME_LENGTH} characters"
    labels = name.split(".")
    if len(labels) < min_labels:
        return f"a name needs at least {min_labels} labels"
    for label in labels:
        if not _LABEL.match(label):
            return (
                f"label {label[:70]!r}: 1-63 letters, digits, '-' or '_', not starting or"
                " ending with '-'"
            )
    return None


def valid_fqdn(name: str) -> bool:
    """A host name a client may update: two labels or more (``host.zone``)."""
    return name_problem(name) is None


# -- addresses ------------------------------------------------------------------------

# RFC 5737 / RFC 3849 documentation ranges count as public (the agent's consensus
# allows them the same way). They are never routed, so a name pointing there reaches
# nothing (no rebinding target, unlike private or loopback space); the docs, the demo,
# the tests and the namespace lab (whose "internet" is 203.0.113.0/24) publish them as
# data. Python's is_global rejects them, hence the explicit list (consensus.DOCUMENTATION).
# RFC 1122 §3.2.1.3: 0.0.0.0/8 is "this host on this network", never a destination.
_THIS_NETWORK = IPv4Network("0.0.0.0/8")


def address_problem(address: IPv4Address | IPv6Address, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be published as an A/AAAA record.

    Default (a public zone): public unicast only, documentation ranges included.
    ``allow_private`` (a LAN-only zone) adds private (RFC 1918, RFC 4193), shared
    (RFC 6598), loopback and link-local space. Never: scoped, IPv4-mapped,
    unspecified, multicast, broadcast or reserved addresses.
    """
    if isinstance(address, IPv6Address):
        if address.scope_id is not None:
            return "a scoped IPv6 address (%zone) cannot be published"
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address cannot be published (send the IPv4 address)"
    if address.is_unspecified:
        return "the unspecified address cannot be published"
    if address.is_multicast:
        return "a multicast address cannot be published"
    if isinstance(address, IPv4Address):
        if address.is_reserved or address in _THIS_NETWORK:
            return "a reserved or broadcast address cannot be published"
    elif address.is_reserved and not address.is_loopback:
        return "a reserved IPv6 address cannot be published"
    if any(address in net for net in DOCUMENTATION):
        return None
    if address.is_global:
        return None
    local = address.is_private or address.is_loopback or address.is_link_local
    if allow_private and (local or (isinstance(address, IPv4Address) and address in CGNAT)):
        return None
    return (
        "not a public address (private, loopback, link-local or shared space is refused"
        " unless the zone allows private addresses)"
    )


# -- TXT ------------------------------------------------------------------------------

# A host's TXT value, in UTF-8 octets. ACME tokens are 43, SPF records stay below 450
# (RFC 7208 §3.4 keeps answers within 512); 1024 leaves room while keeping every
# accepted value a few character-strings of one small RR.
MAX_TXT_OCTETS = 1024
# RFC 1035 §3.3: a <character-string> is one length octet and at most 255 octets.
CHARACTER_STRING_OCTETS = 255


def txt_problem(text: str) -> str | None:
    """Why ``text`` may not be a host's TXT value."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return "the TXT value is not valid UTF-8 text"
    if len(data) > MAX_TXT_OCTETS:
        return f"the TXT value has more than {MAX_TXT_OCTETS} octets (UTF-8)"
    # Control characters (NUL, newlines, escapes) have no place in a TXT value a client
    # sets, would reach logs and the CLI verbatim, and PostgreSQL text cannot hold NUL.
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return "the TXT value contains control characters"
    return None


def txt_rdata(text: str) -> str:
    """The TXT RDATA, presentation format, of an accepted value.

    The UTF-8 octets are split into 255-octet character-strings *before* escaping
    (splitting escaped text broke strings inside an escape or a multi-octet
    character); dnspython writes the escapes, and reads them back identically.
    """
    data = text.encode("utf-8")
    step = CHARACTER_STRING_OCTETS
    chunks = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
    return rdata.to_text()
