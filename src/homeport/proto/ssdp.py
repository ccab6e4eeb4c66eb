"""SSDP discovery (UPnP Device Architecture 1.1 §1.3): M-SEARCH out, search responses in.

An M-SEARCH goes to 239.255.255.250:1900 (multicast; devices wait a random time up to MX
seconds before answering) or straight to a known gateway's port 1900 (unicast; answered at once,
UDA 1.1 §1.3.2). The answer's LOCATION header is the device description URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.errors import RemoteProtocolError

MULTICAST_ADDRESS = "239.255.255.250"  # UDA 1.1 §1.3.2
MULTICAST_ADDRESS_V6 = "ff02::c"  # UDA 1.1 §1.3.2: link-local scope
PORT = 1900
# UDA 1.1: MX between 1 and 5; 1 keeps devices that do honour MX quick to answer.
DEFAULT_MX = 1
IGD_V1 = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
IGD_V2 = "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
WAN_IP_V1 = "urn:schemas-upnp-org:service:WANIPConnection:1"
WAN_IP_V2 = "urn:schemas-upnp-org:service:WANIPConnection:2"
WAN_PPP_V1 = "urn:schemas-upnp-org:service:WANPPPConnection:1"
# Search targets for an IGD: either device version, or its connection services directly.
IGD_TARGETS = (IGD_V2, IGD_V1, WAN_IP_V2, WAN_IP_V1, WAN_PPP_V1)


@dataclass(frozen=True)
class SearchResponse:
    location: str
    st: str
    usn: str
    server: str


def m_search(st: str = IGD_V1, mx: int | None = DEFAULT_MX, host: str | None = None) -> bytes:
    """An M-SEARCH request. For unicast pass ``host`` ("ip:port") and ``mx=None``."""
    lines = [
        "M-SEARCH * HTTP/1.1",
        f"HOST: {host or f'{MULTICAST_ADDRESS}:{PORT}'}",
        'MAN: "ssdp:discover"',
    ]
    if mx is not None:
        lines.append(f"MX: {mx}")
    lines.append(f"ST: {st}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def parse_response(data: bytes) -> SearchResponse:
    """Parse a search response (an HTTP/1.1 200 over UDP); headers are case-insensitive."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError("SSDP response is not UTF-8") from exc
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    status = lines[0].split(None, 2)
    if len(status) < 2 or not status[0].upper().startswith("HTTP/") or status[1] != "200":
        raise RemoteProtocolError(f"not an SSDP search response: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    location = headers.get("location", "")
    if not location.lower().startswith("http://"):
        raise RemoteProtocolError("SSDP response without an http LOCATION")
    return SearchResponse(
        location=location,
        st=headers.get("st", ""),
        usn=headers.get("usn", ""),
        server=headers.get("server", ""),
    )


def is_igd(response: SearchResponse) -> bool:
    return response.st in IGD_TARGETS
