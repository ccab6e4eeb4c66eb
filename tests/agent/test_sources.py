"""Every source against a real local peer on 127.0.0.1, and consensus over them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from homeport.agent import sources
from homeport.agent.config import FamilyConfig
from homeport.agent.detect import detect
from homeport.agent.sources import interface
from homeport.errors import RemoteProtocolError, TransportError
from homeport.proto import stun
from tests.agent.servers import LocalServices, serve


@pytest.fixture
def services() -> Iterator[LocalServices]:
    with serve(LocalServices()) as running:
        yield running


def source(**settings: Any) -> sources.SourceSettings:
    return sources.settings_class(settings["type"]).model_validate(settings)


def ask(settings: sources.SourceSettings, family: int = 4) -> Any:
    return asyncio.run(sources.detector(settings.type)(settings, family, 5.0))  # type: ignore[arg-type]


def test_web_html_dyndns_style_with_skip(services: LocalServices) -> None:
    settings = source(type="web", url=f"{services.base}/html", skip="IP Address")
    assert ask(settings) == ip_address("203.0.113.10")


def test_web_html_without_skip_ignores_markup(services: LocalServices) -> None:
    assert ask(source(type="web", url=f"{services.base}/html")) == ip_address("203.0.113.10")


def test_web_plain_and_json(services: LocalServices) -> None:
    services.address = "198.51.100.7"
    assert ask(source(type="web", url=f"{services.base}/plain")) == ip_address("198.51.100.7")
    json_source = source(type="web", url=f"{services.base}/json", format="json", json_key="ip")
    assert ask(json_source) == ip_address("198.51.100.7")
    assert ask(source(type="web", url=f"{services.base}/json")) == ip_address("198.51.100.7")


def test_web_skip_absent_and_http_error(services: LocalServices) -> None:
    with pytest.raises(RemoteProtocolError, match="does not contain"):
        ask(source(type="web", url=f"{services.base}/plain", skip="Address:"))
    with pytest.raises(RemoteProtocolError, match="HTTP 503"):
        ask(source(type="web", url=f"{services.base}/broken"))


def test_web_chunked_answer_and_redirects(services: LocalServices) -> None:
    chunked = source(type="web", url=f"{services.base}/chunked", skip="IP Address")
    assert ask(chunked) == ip_address("203.0.113.10")
    assert ask(source(type="web", url=f"{services.base}/moved")) == ip_address("203.0.113.10")
    with pytest.raises(RemoteProtocolError, match="HTTP 301"):
        ask(source(type="web", url=f"{services.base}/loop"))


def test_web_refused_is_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError):
        ask(source(type="web", url=f"http://127.0.0.1:{port}/"))


def family(*items: sources.SourceSettings, require: int) -> FamilyConfig:
    return FamilyConfig(4, True, items, require, False)


def test_a_lying_source_among_three_is_never_published(services: LocalServices) -> None:
    cfg = family(
        source(type="web", url=f"{services.base}/html", skip="IP Address"),
        source(type="web", url=f"{services.base}/liar", label="liar"),
        source(type="web", url=f"{services.base}/json"),
        require=2,
    )
    verdict = asyncio.run(detect(cfg, 5.0))
    assert verdict.address == ip_address("203.0.113.10")
    assert verdict.dissenting == ("liar",)
    assert services.checkips == 3


def test_all_sources_failing_publishes_nothing_and_says_so(services: LocalServices) -> None:
    cfg = family(
        source(type="web", url=f"{services.base}/broken"),
        source(type="web", url=f"{services.base}/missing"),
        require=1,
    )
    verdict = asyncio.run(detect(cfg, 5.0))
    assert verdict.address is None
    assert "no source found" in verdict.reason
    assert all(a.error for a in verdict.answers)
    assert len({a.source for a in verdict.answers}) == 2  # same label made distinct


def test_cmd_and_static() -> None:
    assert ask(source(type="cmd", command="echo 'WAN: 203.0.113.77'", skip="WAN:")) == ip_address(
        "203.0.113.77"
    )
    with pytest.raises(RemoteProtocolError, match="status 3"):
        ask(source(type="cmd", command="exit 3"))
    assert ask(source(type="static", address="2001:db8::9"), 6) == ip_address("2001:db8::9")
    with pytest.raises(RemoteProtocolError):
        ask(source(type="static", address="2001:db8::9"), 4)


# --- DNS: a real dnspython responder on 127.0.0.1 that answers like OpenDNS and Cloudflare ---


class _WhoAmI(asyncio.DatagramProtocol):
    def __init__(self, answer_v4: str) -> None:
        self.answer_v4 = answer_v4
        self.queries = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queries += 1
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text()
        if name == "myip.opendns.com." and question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(name, 0, "IN", "A", self.answer_v4))
        elif name == "whoami.cloudflare." and question.rdclass == dns.rdataclass.CH:
            response.answer.append(dns.rrset.from_text(name, 0, "CH", "TXT", f'"{self.answer_v4}"'))
        self.transport.sendto(response.to_wire(), addr)  # type: ignore[attr-defined]


@contextlib.contextmanager
def dns_server(answer: str) -> Iterator[tuple[int, _WhoAmI]]:
    import threading

    loop = asyncio.new_event_loop()
    protocol = _WhoAmI(answer)
    transport, _ = loop.run_until_complete(
        loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0))
    )
    port = transport.get_extra_info("sockname")[1]
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        yield port, protocol
    finally:
        loop.call_soon_threadsafe(transport.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(asyncio.sleep(0))  # let the transport finish closing its socket
        loop.close()


@pytest.mark.parametrize("kind", ["opendns", "cloudflare"])
def test_dns_sources(kind: str) -> None:
    with dns_server("203.0.113.44") as (port, server):
        settings = source(type="dns", kind=kind, resolver="127.0.0.1", port=port)
        assert ask(settings) == ip_address("203.0.113.44")
        assert server.queries == 1


def test_dns_homeport_kind_needs_names_and_reports_empty_answers() -> None:
    with pytest.raises(ValueError, match="needs resolver and qname"):
        source(type="dns", kind="homeport")
    with dns_server("203.0.113.44") as (port, _):
        settings = source(
            type="dns", kind="homeport", resolver="127.0.0.1", port=port, qname="nothing.test"
        )
        with pytest.raises(RemoteProtocolError, match="no IPv4 address"):
            ask(settings)


# --- STUN: a tiny responder built on our codec, answering the client's real address ---


class _StunResponder(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.decode(data)
        assert request.type == stun.BINDING_REQUEST
        assert stun.check_fingerprint(data)
        # Answer with a documentation address so the test also proves the xor decoding.
        mapped = ip_address("192.0.2.33").packed
        cookie = (stun.MAGIC_COOKIE).to_bytes(4, "big")
        xored = bytes(a ^ b for a, b in zip(mapped, cookie, strict=True))
        port = (addr[1] ^ (stun.MAGIC_COOKIE >> 16)).to_bytes(2, "big")
        value = b"\x00\x01" + port + xored
        answer = stun.encode(
            stun.BINDING_SUCCESS,
            request.transaction_id,
            ((stun.ATTR_XOR_MAPPED_ADDRESS, value),),
            fingerprint=True,
        )
        self.transport.sendto(answer, addr)  # type: ignore[attr-defined]


def test_stun_against_a_local_responder() -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            _StunResponder, local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        try:
            settings = source(type="stun", server="127.0.0.1", port=port)
            return await sources.detector("stun")(settings, 4, 5.0)
        finally:
            transport.close()

    assert asyncio.run(main()) == ip_address("192.0.2.33")


def test_stun_silence_is_a_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never answers
        port = sock.getsockname()[1]
        settings = source(type="stun", server="127.0.0.1", port=port)
        with pytest.raises(TransportError, match="no answer"):
            asyncio.run(sources.detector("stun")(settings, 4, 1.2))  # type: ignore[arg-type]


# --- interface: stable IPv6 selection from the kernel's table ---

TABLE = """\
20010db8000000000000000000000abc 02 40 00 01     eth0
20010db80000000000000000000000de 02 40 00 20     eth0
20010db80000000000000000000000ef 02 40 00 40     eth0
fe800000000000000000000000000001 02 40 20 80     eth0
fd000000000000000000000000000001 02 40 00 00     eth0
20010db8000000000000000000001111 02 40 00 100    eth0
20010db8000000000000000000002222 02 40 00 00     eth1
"""


def test_interface_picks_the_stable_global_address() -> None:
    # temporary (01), deprecated (20), tentative (40), link-local and ULA are all skipped
    assert interface.pick_ipv6(TABLE, "eth0") == ip_address("2001:db8::1111")
    assert interface.pick_ipv6(TABLE, "eth1") == ip_address("2001:db8::2222")


def test_interface_suffix_keeps_the_prefix() -> None:
    assert interface.pick_ipv6(TABLE, "eth0", "::1234") == ip_address("2001:db8::1234")


def test_interface_without_stable_address() -> None:
    only_temporary = TABLE.splitlines()[0] + "\n"
    with pytest.raises(RemoteProtocolError, match="no stable global"):
        interface.pick_ipv6(only_temporary, "eth0")


def test_interface_reads_the_real_loopback() -> None:
    settings = source(type="interface", interface="lo")
    assert ask(settings, 4) == ip_address("127.0.0.1")
    with pytest.raises(RemoteProtocolError):  # ::1 has host scope, never published
        ask(settings, 6)
