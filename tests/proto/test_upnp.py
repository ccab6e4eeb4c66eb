from __future__ import annotations

from pathlib import Path

import pytest

from homeport.errors import RemoteProtocolError
from homeport.proto import upnp

DATA = Path(__file__).parent / "data"
LOCATION = "http://192.168.77.1:5000/rootDesc.xml"


def test_miniupnpd_description() -> None:
    desc = upnp.parse_description((DATA / "miniupnpd_rootDesc.xml").read_bytes(), LOCATION)
    connection = desc.connection()
    assert connection is not None
    assert connection.service_type == upnp.WAN_IP_V2
    assert connection.control_url == "http://192.168.77.1:5000/ctl/IPConn"
    assert connection.event_url == "http://192.168.77.1:5000/evt/IPConn"
    firewall = desc.ipv6_firewall()
    assert firewall is not None
    assert firewall.control_url.endswith("/ctl/IP6FCtl")


IGD_V1_PPP = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
 <URLBase>http://10.0.0.138:80/</URLBase>
 <device><friendlyName>DSL modem</friendlyName><deviceList><device><deviceList><device>
  <serviceList>
   <service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType>
    <controlURL>upnp/control/WANPPPConn1</controlURL><eventSubURL>/upnp/event/ppp</eventSubURL>
   </service>
   <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
    <controlURL>/upnp/control/WANIPConn1</controlURL><eventSubURL></eventSubURL></service>
  </serviceList></device></deviceList></device></deviceList></device>
</root>"""


def test_v1_prefers_ip_connection_and_honours_urlbase() -> None:
    desc = upnp.parse_description(IGD_V1_PPP, "http://10.0.0.138:5431/dyn/desc.xml")
    assert desc.friendly_name == "DSL modem"
    connection = desc.connection()
    assert connection is not None
    assert connection.service_type == upnp.WAN_IP_V1
    assert connection.control_url == "http://10.0.0.138:80/upnp/control/WANIPConn1"
    assert connection.event_url == ""
    ppp = desc.service(upnp.WAN_PPP_V1)
    assert ppp is not None
    assert ppp.control_url == "http://10.0.0.138:80/upnp/control/WANPPPConn1"
    assert desc.ipv6_firewall() is None


def test_ppp_only() -> None:
    xml = IGD_V1_PPP.replace(b"WANIPConnection:1", b"Layer3Forwarding:1")
    connection = upnp.parse_description(xml, LOCATION).connection()
    assert connection is not None
    assert connection.service_type == upnp.WAN_PPP_V1


@pytest.mark.parametrize(
    "xml",
    [
        b"<root><unclosed></root>",
        # defusedxml refuses entity expansion (billion laughs) from an untrusted router.
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
        b"<root>&b;</root>",
    ],
)
def test_bad_or_hostile_xml(xml: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        upnp.parse_description(xml, LOCATION)
