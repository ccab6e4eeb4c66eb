from __future__ import annotations

import pytest

from homeport.errors import RemoteProtocolError
from homeport.proto import gena

# The NOTIFY miniupnpd 2.3.1 sent in the lab after the router's WAN address changed.
NOTIFY_BODY = (
    b'<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><PossibleConnectionTypes>'
    b"IP_Routed</PossibleConnectionTypes></e:property><e:property><ConnectionStatus>Connected"
    b"</ConnectionStatus></e:property><e:property><ExternalIPAddress>203.0.113.4"
    b"</ExternalIPAddress></e:property><e:property><PortMappingNumberOfEntries>0"
    b"</PortMappingNumberOfEntries></e:property><e:property><SystemUpdateID>1</SystemUpdateID>"
    b"</e:property></e:propertyset>"
)
NOTIFY_HEADERS = {
    "Host": "192.168.77.10:50977",
    "NT": "upnp:event",
    "NTS": "upnp:propchange",
    "SID": "uuid:d53631b1-7685-45e1-958b-7fcaa72a1e70",
    "SEQ": "3",
}


def test_subscribe_and_renew_headers() -> None:
    assert gena.subscribe_headers("http://10.0.0.2:4000/cb", 300) == {
        "CALLBACK": "<http://10.0.0.2:4000/cb>",
        "NT": "upnp:event",
        "TIMEOUT": "Second-300",
    }
    assert gena.renew_headers("uuid:1") == {"SID": "uuid:1", "TIMEOUT": "Second-1800"}
    assert gena.unsubscribe_headers("uuid:1") == {"SID": "uuid:1"}


def test_parse_subscription() -> None:
    sub = gena.parse_subscription({"sid": "uuid:abc", "Timeout": "Second-1800"})
    assert sub == gena.Subscription("uuid:abc", 1800)
    assert gena.parse_timeout("Second-infinite", 99) == 99
    with pytest.raises(RemoteProtocolError):
        gena.parse_subscription({"TIMEOUT": "Second-5"})


def test_parse_notify_from_miniupnpd() -> None:
    event = gena.parse_notify(NOTIFY_HEADERS, NOTIFY_BODY)
    assert event.sid == NOTIFY_HEADERS["SID"]
    assert event.seq == 3
    assert event.variables["ExternalIPAddress"] == "203.0.113.4"
    assert event.variables["ConnectionStatus"] == "Connected"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({**NOTIFY_HEADERS, "NTS": "ssdp:alive"}, NOTIFY_BODY),
        (NOTIFY_HEADERS, b"<nope/>"),
        (NOTIFY_HEADERS, b"<<<"),
    ],
)
def test_rejects_other_notifies(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        gena.parse_notify(headers, body)
