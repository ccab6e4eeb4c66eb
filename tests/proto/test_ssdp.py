from __future__ import annotations

from pathlib import Path

import pytest

from homeport.errors import RemoteProtocolError
from homeport.proto import ssdp

DATA = Path(__file__).parent / "data"


def test_multicast_m_search() -> None:
    text = ssdp.m_search().decode()
    assert text.startswith("M-SEARCH * HTTP/1.1\r\n")
    assert "HOST: 239.255.255.250:1900\r\n" in text
    assert 'MAN: "ssdp:discover"\r\n' in text
    assert "MX: 1\r\n" in text
    assert text.endswith(f"ST: {ssdp.IGD_V1}\r\n\r\n")


def test_unicast_m_search_has_no_mx() -> None:
    text = ssdp.m_search(ssdp.IGD_V2, mx=None, host="192.168.1.1:1900").decode()
    assert "HOST: 192.168.1.1:1900" in text
    assert "MX" not in text


def test_parse_miniupnpd_response() -> None:
    response = ssdp.parse_response((DATA / "miniupnpd_ssdp_response.txt").read_bytes())
    assert response.location == "http://192.168.77.1:5000/rootDesc.xml"
    assert response.st == ssdp.IGD_V1
    assert "MiniUPnPd/2.3.1" in response.server
    assert ssdp.is_igd(response)


def test_lowercase_headers_and_bare_newlines() -> None:
    data = b"HTTP/1.1 200 OK\nst: urn:x\nlocation: http://10.0.0.1/d.xml\n\n"
    response = ssdp.parse_response(data)
    assert response.location == "http://10.0.0.1/d.xml"
    assert not ssdp.is_igd(response)


@pytest.mark.parametrize(
    "data",
    [
        b"NOTIFY * HTTP/1.1\r\nLOCATION: http://x/\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nST: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nLOCATION: file:///etc/passwd\r\n\r\n",
        b"\xff\xfe",
    ],
)
def test_rejects_other_messages(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        ssdp.parse_response(data)
