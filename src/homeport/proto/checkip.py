"""Reading a public address out of a checkip service's answer, without I/O.

Three shapes exist in the wild: dyndns-style HTML
(``<body>Current IP Address: 1.2.3.4</body>``), plain text (``1.2.3.4\\n``) and
JSON (``{"ip": "1.2.3.4"}``). ddclient's rule for all of them is ``web-skip``:
skip past the first occurrence of the pattern, then take the first address that
follows. We follow that rule exactly so a ddclient.conf means the
same thing here.
"""

from __future__ import annotations

import json
import re
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Literal

from homeport.errors import RemoteProtocolError

Family = Literal[4, 6]
Format = Literal["auto", "plain", "html", "json"]

# Candidate tokens: dotted quads and colon-hex runs; validated by ipaddress afterwards,
# so the loose patterns only have to find every real address, not reject false ones.
_IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6_RE = re.compile(
    r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])"
)
_TAG_RE = re.compile(r"<[^>]*>")

# Keys JSON echo services use for the caller's address (ipify "ip", ifconfig.co "ip",
# seeip "ip", httpbin "origin", some "address"/"query").
JSON_KEYS = ("ip", "address", "query", "origin", "ipv4", "ipv6")


def find_address(text: str, family: Family, skip: str = "") -> IPv4Address | IPv6Address:
    """The first address of ``family`` after the first ``skip`` (ddclient's web-skip).

    RemoteProtocolError if ``skip`` is given but absent, or no address follows.
    """
    if skip:
        where = text.find(skip)
        if where < 0:
            raise RemoteProtocolError(f"checkip answer does not contain {skip[:40]!r}")
        text = text[where + len(skip) :]
    pattern = _IPV4_RE if family == 4 else _IPV6_RE
    for match in pattern.finditer(text):
        try:
            address = ip_address(match.group(0))
        except ValueError:
            continue
        if address.version == family:
            return address
    raise RemoteProtocolError(f"no IPv{family} address in checkip answer")


def parse_json(text: str, family: Family, key: str = "") -> IPv4Address | IPv6Address:
    """The address under ``key`` (or a usual key) of a JSON object answer."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RemoteProtocolError("checkip answer is not JSON") from exc
    if not isinstance(data, dict):
        raise RemoteProtocolError("checkip JSON answer is not an object")
    for name in (key,) if key else JSON_KEYS:
        value = data.get(name)
        if isinstance(value, str):
            # httpbin's "origin" may be "a, b" behind proxies: the first is the client.
            return find_address(value, family)
    raise RemoteProtocolError(f"checkip JSON answer has no {key or 'ip'!r} field")


def parse(
    body: str,
    family: Family,
    *,
    skip: str = "",
    fmt: Format = "auto",
    json_key: str = "",
    content_type: str = "",
) -> IPv4Address | IPv6Address:
    """The address a checkip service answered, in any of the three shapes."""
    if fmt == "json" or (fmt == "auto" and not skip and _looks_json(body, content_type)):
        return parse_json(body, family, json_key)
    if fmt == "html" or (fmt == "auto" and "<" in body and not skip):
        # Tags can hold digits (<h1>, style="..."); only the text counts.
        body = _TAG_RE.sub(" ", body)
    return find_address(body, family, skip)


def _looks_json(body: str, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip().startswith("{")
