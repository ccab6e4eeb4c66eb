"""SOAP for UPnP IGD control (UDA 1.1 §3.2): action envelopes out, results or faults in.

One generic pair (:func:`request`, :func:`parse_response`) plus small builders for the actions
homeport uses, so argument names and order (the spec's, which some routers insist on) live in
one place. A fault becomes :class:`~homeport.errors.RouterError` with the UPnP error code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml.ElementTree as ET
from defusedxml import DefusedXmlException

from homeport.errors import RemoteProtocolError, RouterError

ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
CONTENT_TYPE = 'text/xml; charset="utf-8"'

# WANIPConnection v1/v2 and WANIPv6FirewallControl error codes, for messages.
ERROR_TEXT = {
    401: "Invalid Action",
    402: "Invalid Args",
    501: "Action Failed",
    606: "Action not authorized",
    702: "FirewallDisabled",
    703: "InboundPinholeNotAllowed",
    704: "NoSuchEntry",
    705: "ProtocolNotSupported",
    706: "InternalPortWildcardingNotAllowed",
    713: "SpecifiedArrayIndexInvalid",
    714: "NoSuchEntryInArray",
    715: "WildCardNotPermittedInSrcIP",
    716: "WildCardNotPermittedInExtPort",
    718: "ConflictInMappingEntry",
    724: "SamePortValuesRequired",
    725: "OnlyPermanentLeasesSupported",
    726: "RemoteHostOnlySupportsWildcard",
    727: "ExternalPortOnlySupportsWildcard",
    728: "NoPortMapsAvailable",
    729: "ConflictWithOtherMechanisms",
}
END_OF_LIST = 713  # GetGenericPortMappingEntry past the last index
NO_SUCH_ENTRY = 714
IANA_PROTOCOLS = {"tcp": 6, "udp": 17}  # WANIPv6FirewallControl takes protocol numbers

Args = Sequence[tuple[str, str | int]]


@dataclass(frozen=True)
class Request:
    action: str
    soap_action: str  # the SOAPAction header value, quotes included
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": CONTENT_TYPE, "SOAPAction": self.soap_action}


@dataclass(frozen=True)
class PortMappingEntry:
    remote_host: str
    external_port: int
    protocol: str
    internal_port: int
    internal_client: str
    enabled: bool
    description: str
    lease: int


def request(service_type: str, action: str, args: Args = ()) -> Request:
    params = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in args)
    body = (
        '<?xml version="1.0"?>\r\n'
        f'<s:Envelope xmlns:s="{ENVELOPE_NS}" s:encodingStyle="{ENCODING}">'
        f'<s:Body><u:{action} xmlns:u="{escape(service_type)}">{params}</u:{action}>'
        "</s:Body></s:Envelope>\r\n"
    )
    return Request(action, f'"{service_type}#{action}"', body.encode("utf-8"))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: Element, name: str) -> Element | None:
    for element in root.iter():
        if _local(element.tag) == name:
            return element
    return None


def parse_response(action: str, body: bytes) -> dict[str, str]:
    """The out-arguments of ``<actionResponse>``; a Fault raises RouterError(code)."""
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise RemoteProtocolError(f"{action}: unparsable SOAP answer: {exc}") from exc
    fault = _find(root, "Fault")
    if fault is not None:
        code_el = _find(fault, "errorCode")
        desc_el = _find(fault, "errorDescription")
        code_text = (code_el.text or "").strip() if code_el is not None else ""
        code = int(code_text) if code_text.isdigit() else 0
        desc = (desc_el.text or "").strip() if desc_el is not None else ""
        desc = desc or ERROR_TEXT.get(code, "SOAP fault")
        raise RouterError(f"{action} failed: UPnP error {code} ({desc})", code=code)
    result = _find(root, f"{action}Response")
    if result is None:
        raise RemoteProtocolError(f"{action}: no {action}Response in the SOAP answer")
    return {_local(child.tag): (child.text or "").strip() for child in result}


# -- action builders ------------------------------------------------------------------------


def add_port_mapping(
    service_type: str,
    *,
    external_port: int,
    protocol: str,
    internal_port: int,
    internal_client: str,
    description: str,
    lease: int,
    any_port: bool = False,
) -> Request:
    """AddPortMapping, or AddAnyPortMapping (IGDv2: the router may pick another port)."""
    args: Args = (
        ("NewRemoteHost", ""),
        ("NewExternalPort", external_port),
        ("NewProtocol", protocol.upper()),
        ("NewInternalPort", internal_port),
        ("NewInternalClient", internal_client),
        ("NewEnabled", 1),
        ("NewPortMappingDescription", description),
        ("NewLeaseDuration", lease),
    )
    return request(service_type, "AddAnyPortMapping" if any_port else "AddPortMapping", args)


def delete_port_mapping(service_type: str, *, external_port: int, protocol: str) -> Request:
    args: Args = (
        ("NewRemoteHost", ""),
        ("NewExternalPort", external_port),
        ("NewProtocol", protocol.upper()),
    )
    return request(service_type, "DeletePortMapping", args)


def get_specific_port_mapping(service_type: str, *, external_port: int, protocol: str) -> Request:
    args: Args = (
        ("NewRemoteHost", ""),
        ("NewExternalPort", external_port),
        ("NewProtocol", protocol.upper()),
    )
    return request(service_type, "GetSpecificPortMappingEntry", args)


def get_generic_port_mapping(service_type: str, index: int) -> Request:
    return request(service_type, "GetGenericPortMappingEntry", (("NewPortMappingIndex", index),))


def get_external_ip(service_type: str) -> Request:
    return request(service_type, "GetExternalIPAddress")


def get_status_info(service_type: str) -> Request:
    return request(service_type, "GetStatusInfo")


def add_pinhole(
    service_type: str, *, internal_client: str, internal_port: int, protocol: str, lease: int
) -> Request:
    """WANIPv6FirewallControl AddPinhole from any remote host/port ("" and 0 are wildcards)."""
    args: Args = (
        ("RemoteHost", ""),
        ("RemotePort", 0),
        ("InternalClient", internal_client),
        ("InternalPort", internal_port),
        ("Protocol", IANA_PROTOCOLS[protocol.lower()]),
        ("LeaseTime", lease),
    )
    return request(service_type, "AddPinhole", args)


def update_pinhole(service_type: str, unique_id: int, lease: int) -> Request:
    return request(
        service_type, "UpdatePinhole", (("UniqueID", unique_id), ("NewLeaseTime", lease))
    )


def delete_pinhole(service_type: str, unique_id: int) -> Request:
    return request(service_type, "DeletePinhole", (("UniqueID", unique_id),))


# -- typed results ---------------------------------------------------------------------------


def _int(values: dict[str, str], name: str) -> int:
    try:
        return int(values.get(name, "0") or "0")
    except ValueError as exc:
        raise RemoteProtocolError(f"{name} is not a number: {values.get(name)!r}") from exc


def port_mapping_entry(
    values: dict[str, str], *, external_port: int = 0, protocol: str = ""
) -> PortMappingEntry:
    """An entry from GetGenericPortMappingEntry (all fields) or GetSpecificPortMappingEntry
    (which omits the key fields: pass them)."""
    return PortMappingEntry(
        remote_host=values.get("NewRemoteHost", ""),
        external_port=_int(values, "NewExternalPort") or external_port,
        protocol=(values.get("NewProtocol") or protocol).lower(),
        internal_port=_int(values, "NewInternalPort"),
        internal_client=values.get("NewInternalClient", ""),
        enabled=values.get("NewEnabled", "1") in ("1", "true", "yes"),
        description=values.get("NewPortMappingDescription", ""),
        lease=_int(values, "NewLeaseDuration"),
    )


def reserved_port(values: dict[str, str], asked: int) -> int:
    """AddAnyPortMapping's granted port; AddPortMapping grants exactly what was asked."""
    return _int(values, "NewReservedPort") or asked


def pinhole_id(values: dict[str, str]) -> int:
    return _int(values, "UniqueID")
