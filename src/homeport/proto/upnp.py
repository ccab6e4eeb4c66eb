"""UPnP IGD device description (the XML at an SSDP LOCATION) -> the services we drive.

Parsed with defusedxml (a router's XML is untrusted input). Service URLs are resolved against
``URLBase`` when the description has one (UDA 1.0), else against the description's own URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as ET
from defusedxml import DefusedXmlException

from homeport.errors import RemoteProtocolError

WAN_IP_V2 = "urn:schemas-upnp-org:service:WANIPConnection:2"
WAN_IP_V1 = "urn:schemas-upnp-org:service:WANIPConnection:1"
WAN_PPP_V1 = "urn:schemas-upnp-org:service:WANPPPConnection:1"
IPV6_FIREWALL = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"
# Preference: v2 has AddAnyPortMapping and lease rules we know; PPP last (DSL modems).
CONNECTION_SERVICES = (WAN_IP_V2, WAN_IP_V1, WAN_PPP_V1)


@dataclass(frozen=True)
class Service:
    service_type: str
    control_url: str
    event_url: str


@dataclass(frozen=True)
class Description:
    friendly_name: str
    services: tuple[Service, ...]

    def service(self, *types: str) -> Service | None:
        """The first service whose type is in ``types``, in the order of ``types``."""
        for service_type in types:
            for service in self.services:
                if service.service_type == service_type:
                    return service
        return None

    def connection(self) -> Service | None:
        return self.service(*CONNECTION_SERVICES)

    def ipv6_firewall(self) -> Service | None:
        return self.service(IPV6_FIREWALL)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: Element, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def parse_description(xml: bytes, location: str) -> Description:
    """All services in the description (nested devices included), with absolute URLs."""
    try:
        root = ET.fromstring(xml)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise RemoteProtocolError(f"bad device description at {location}: {exc}") from exc
    base = _child_text(root, "URLBase") or location
    services = []
    friendly = ""
    for element in root.iter():
        name = _local(element.tag)
        if name == "friendlyName" and not friendly:
            friendly = (element.text or "").strip()
        if name != "service":
            continue
        service_type = _child_text(element, "serviceType")
        control = _child_text(element, "controlURL")
        if not service_type or not control:
            continue
        event = _child_text(element, "eventSubURL")
        services.append(
            Service(
                service_type=service_type,
                control_url=urljoin(base, control),
                event_url=urljoin(base, event) if event else "",
            )
        )
    return Description(friendly_name=friendly, services=tuple(services))
