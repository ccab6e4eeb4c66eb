from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as ET
import pytest

from homeport.errors import RemoteProtocolError, RouterError
from homeport.proto import soap

DATA = Path(__file__).parent / "data"
V2 = "urn:schemas-upnp-org:service:WANIPConnection:2"
FW = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"


def _args(request: soap.Request) -> list[tuple[str, str]]:
    root = ET.fromstring(request.body)
    action = root[0][0]
    assert action.tag == f"{{{request.soap_action.strip(chr(34)).split('#')[0]}}}{request.action}"
    return [(child.tag, child.text or "") for child in action]


def test_add_port_mapping_envelope() -> None:
    request = soap.add_port_mapping(
        V2,
        external_port=8080,
        protocol="tcp",
        internal_port=80,
        internal_client="192.168.77.10",
        description="web <&> server",
        lease=3600,
    )
    assert request.soap_action == f'"{V2}#AddPortMapping"'
    assert request.headers["SOAPAction"] == request.soap_action
    assert _args(request) == [
        ("NewRemoteHost", ""),
        ("NewExternalPort", "8080"),
        ("NewProtocol", "TCP"),
        ("NewInternalPort", "80"),
        ("NewInternalClient", "192.168.77.10"),
        ("NewEnabled", "1"),
        ("NewPortMappingDescription", "web <&> server"),  # escaped on the wire
        ("NewLeaseDuration", "3600"),
    ]
    any_port = soap.add_port_mapping(
        V2,
        external_port=1,
        protocol="udp",
        internal_port=1,
        internal_client="h",
        description="",
        lease=0,
        any_port=True,
    )
    assert any_port.action == "AddAnyPortMapping"


def test_other_builders() -> None:
    assert _args(soap.delete_port_mapping(V2, external_port=9, protocol="udp")) == [
        ("NewRemoteHost", ""),
        ("NewExternalPort", "9"),
        ("NewProtocol", "UDP"),
    ]
    assert _args(soap.get_generic_port_mapping(V2, 3)) == [("NewPortMappingIndex", "3")]
    assert _args(soap.get_external_ip(V2)) == []
    assert soap.get_status_info(V2).action == "GetStatusInfo"
    assert soap.get_specific_port_mapping(V2, external_port=1, protocol="tcp").action == (
        "GetSpecificPortMappingEntry"
    )
    pinhole = soap.add_pinhole(
        FW, internal_client="2001:db8::10", internal_port=443, protocol="tcp", lease=600
    )
    assert dict(_args(pinhole))["Protocol"] == "6"
    assert dict(_args(pinhole))["InternalClient"] == "2001:db8::10"
    assert _args(soap.update_pinhole(FW, 7, 1200)) == [("UniqueID", "7"), ("NewLeaseTime", "1200")]
    assert _args(soap.delete_pinhole(FW, 7)) == [("UniqueID", "7")]


def test_parse_generic_entry_from_miniupnpd() -> None:
    values = soap.parse_response(
        "GetGenericPortMappingEntry", (DATA / "miniupnpd_generic_entry.xml").read_bytes()
    )
    entry = soap.port_mapping_entry(values)
    assert entry == soap.PortMappingEntry(
        remote_host="",
        external_port=8080,
        protocol="tcp",
        internal_port=8080,
        internal_client="192.168.77.10",
        enabled=True,
        description="PCP MAP 04030201080706050c0b0a09",
        lease=600,
    )


def test_fault_713_is_the_end_of_the_list() -> None:
    with pytest.raises(RouterError) as info:
        soap.parse_response(
            "GetGenericPortMappingEntry", (DATA / "miniupnpd_fault_713.xml").read_bytes()
        )
    assert info.value.code == soap.END_OF_LIST
    assert "SpecifiedArrayIndexInvalid" in str(info.value)


def test_specific_entry_and_reserved_port() -> None:
    body = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        b'<u:GetSpecificPortMappingEntryResponse xmlns:u="x"><NewInternalPort>80</NewInternalPort>'
        b"<NewInternalClient>10.0.0.2</NewInternalClient><NewEnabled>1</NewEnabled>"
        b"<NewPortMappingDescription>d</NewPortMappingDescription>"
        b"<NewLeaseDuration>0</NewLeaseDuration></u:GetSpecificPortMappingEntryResponse>"
        b"</s:Body></s:Envelope>"
    )
    values = soap.parse_response("GetSpecificPortMappingEntry", body)
    entry = soap.port_mapping_entry(values, external_port=8080, protocol="tcp")
    assert (entry.external_port, entry.protocol, entry.internal_port) == (8080, "tcp", 80)
    assert soap.reserved_port({"NewReservedPort": "1024"}, 80) == 1024
    assert soap.reserved_port({}, 80) == 80
    assert soap.pinhole_id({"UniqueID": "3"}) == 3


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
    ],
)
def test_unusable_answers(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        soap.parse_response("GetExternalIPAddress", body)


def test_fault_without_code() -> None:
    body = (
        b'<s:Envelope xmlns:s="e"><s:Body><s:Fault><faultstring>x</faultstring></s:Fault>'
        b"</s:Body></s:Envelope>"
    )
    with pytest.raises(RouterError) as info:
        soap.parse_response("AddPortMapping", body)
    assert info.value.code == 0
