"""GENA eventing (UDA 1.1 §4): SUBSCRIBE headers out, subscription and NOTIFY bodies in.

The IGD's WANIPConnection service sends ``ExternalIPAddress`` (and ``ConnectionStatus``, ...)
in a NOTIFY to our callback URL when it changes; the first NOTIFY (SEQ 0) carries the current
values. Subscriptions expire after the granted TIMEOUT and must be renewed with the SID.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as ET
from defusedxml import DefusedXmlException

from homeport.errors import RemoteProtocolError

# UDA 1.1 §4.1.2: a subscriber asks for a duration; the device decides. 1800 s is the common
# default (miniupnpd grants what is asked, bounded).
DEFAULT_TIMEOUT = 1800
EVENT_NS = "urn:schemas-upnp-org:event-1-0"


@dataclass(frozen=True)
class Subscription:
    sid: str
    timeout: int  # seconds granted


@dataclass(frozen=True)
class Notify:
    sid: str
    seq: int
    variables: dict[str, str]


def subscribe_headers(callback_url: str, timeout: int = DEFAULT_TIMEOUT) -> dict[str, str]:
    return {"CALLBACK": f"<{callback_url}>", "NT": "upnp:event", "TIMEOUT": f"Second-{timeout}"}


def renew_headers(sid: str, timeout: int = DEFAULT_TIMEOUT) -> dict[str, str]:
    """§4.1.3: a renewal carries the SID and no CALLBACK/NT."""
    return {"SID": sid, "TIMEOUT": f"Second-{timeout}"}


def unsubscribe_headers(sid: str) -> dict[str, str]:
    return {"SID": sid}


def parse_timeout(value: str, default: int = DEFAULT_TIMEOUT) -> int:
    """``Second-1800`` -> 1800; ``Second-infinite`` (UDA 1.0) -> ``default``."""
    _, _, seconds = value.strip().partition("-")
    return int(seconds) if seconds.isdigit() else default


def parse_subscription(headers: dict[str, str]) -> Subscription:
    """The SUBSCRIBE answer's headers (any case)."""
    lower = {name.lower(): value for name, value in headers.items()}
    sid = lower.get("sid", "").strip()
    if not sid:
        raise RemoteProtocolError("SUBSCRIBE answer without SID")
    return Subscription(sid=sid, timeout=parse_timeout(lower.get("timeout", "")))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_propertyset(body: bytes) -> dict[str, str]:
    """``<e:propertyset><e:property><Var>value</Var></e:property>...`` -> {Var: value}."""
    try:
        root: Element = ET.fromstring(body)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise RemoteProtocolError(f"unparsable GENA NOTIFY body: {exc}") from exc
    if _local(root.tag) != "propertyset":
        raise RemoteProtocolError(f"GENA NOTIFY body is a {_local(root.tag)}, not a propertyset")
    values: dict[str, str] = {}
    for prop in root:
        if _local(prop.tag) != "property":
            continue
        for var in prop:
            values[_local(var.tag)] = (var.text or "").strip()
    return values


def parse_notify(headers: dict[str, str], body: bytes) -> Notify:
    """A NOTIFY request: headers NT upnp:event, NTS upnp:propchange, SID, SEQ; the body."""
    lower = {name.lower(): value.strip() for name, value in headers.items()}
    if lower.get("nt") != "upnp:event" or lower.get("nts") != "upnp:propchange":
        raise RemoteProtocolError("NOTIFY is not a upnp:propchange event")
    seq = lower.get("seq", "0")
    return Notify(
        sid=lower.get("sid", ""),
        seq=int(seq) if seq.isdigit() else 0,
        variables=parse_propertyset(body),
    )
