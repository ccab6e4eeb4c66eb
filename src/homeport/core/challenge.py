"""ACME DNS-01 challenge records: which names a host may set, which values, how long.

Every challenge API (RFC 2136 UPDATE, acme-dns, lego's httpreq) asks the same two
questions, answered here once: may this host touch this name, and is this a value
an ACME CA could ask for. Pure: names in, decisions out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from homeport.core.units import MINUTE

# RFC 8555 §8.4: the validation record lives at "_acme-challenge." + the domain name.
LABEL = "_acme-challenge"
# RFC 8555 §8.4: the value is base64url(SHA-256(key authorization)), 43 characters. Any
# base64url text up to one character-string is accepted (another digest would still be
# base64url); nothing else, so challenge names cannot carry arbitrary data.
_VALUE = re.compile(r"[A-Za-z0-9_-]{1,255}")
# Labels below a host: letters, digits, hyphen, underscore (RFC 1035 §2.3.1 plus the
# underscore of service names); no escapes, so a name is one plain line in any log.
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_MAX_NAME = 253  # RFC 1035 §2.3.4, in text form without the final dot
# How long a value is served if nobody deletes it. certbot and lego finish an order in
# seconds to minutes and clean up after; acme-dns clients never delete. An hour covers
# a slow CA retry and bounds what a crashed client leaves behind.
LIFETIME = 60 * MINUTE
# TTL of challenge TXT records: short, so a retried order's new value is not hidden
# behind a cached old one (lego asks for 120 s, certbot's rfc2136 plugin for 10 s).
TTL = 10
# Values at one name at once: a certificate for NAME and *.NAME needs two; a few orders
# racing (staging and production, two clients) a few more. A bound, not a quota users hit.
MAX_VALUES_PER_NAME = 16
# Values one host holds over all its names (NAME, sub.NAME ...): bounds the rows one
# stolen credential can add.
MAX_VALUES_PER_HOST = 64


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a challenge TXT value (None: it can)."""
    if not _VALUE.fullmatch(value):
        return "a challenge value is base64url text of 1 to 255 characters (RFC 8555 §8.4)"
    return None


def challenge_name(domain: str) -> str:
    """``_acme-challenge.<domain>.`` for a domain written with or without the trailing dot."""
    return f"{LABEL}.{domain.strip().lower().rstrip('.')}."


def owner_host(name: str, hosts: Iterable[str]) -> str | None:
    """The host whose challenge ``name`` is, or None if it is nobody's.

    ``name`` must be ``_acme-challenge.<host>`` or ``_acme-challenge.<sub>.<host>``
    (absolute, any case); the host is the most specific one at or above the rest of
    the name, so a host's key never reaches a host below it (``b.a.zone`` is not
    ``a.zone``'s). ``hosts``: the known host names, absolute, lower case.
    """
    name = name.lower()
    if not name.endswith(".") or not name.startswith(LABEL + "."):
        return None
    rest = name[len(LABEL) + 1 :]
    if not rest or rest == "." or LABEL + "." in "." + rest:
        return None  # no nested _acme-challenge labels: they are nobody's name
    if len(name) - 1 > _MAX_NAME or not all(_LABEL.fullmatch(x) for x in rest[:-1].split(".")):
        return None
    known = set(hosts)
    labels = rest.split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        if candidate in known:
            return candidate
    return None
