"""Malformed UPDATE messages and TSIG records: no crash, a proper answer, nothing
changed outside the key's challenge names.

In process for speed (hypothesis drives :class:`UpdateHandler` on a real store), and
the main cases against a running server over UDP and TCP.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.tsig
import dns.update
import prometheus_client
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeport.core.zone import Catalog
from homeport.server import auth, tsigkeys
from homeport.server.admin import add_zone
from homeport.server.config import ServerConfig
from homeport.server.context import ApiContext
from homeport.server.dns_update import UpdateHandler
from homeport.server.service import DdnsService
from homeport.server.store import AuditEntry, HostRow, Store, TsigKeyRow
from tests.server.challenge_helpers import tsig_key, zone_dump
from tests.server.conftest import ServerProc

ZONE = "dyn.example.net."
HOST = "home.dyn.example.net."
CHALLENGE = "_acme-challenge." + HOST
KEY_ROW = TsigKeyRow(HOST, HOST, "hmac-sha256", "00" * 16, 0.0)
# Answers a malformed or refused message may get; never SERVFAIL (that would be a bug).
ALLOWED = {
    dns.rcode.NOERROR,
    dns.rcode.FORMERR,
    dns.rcode.NXDOMAIN,
    dns.rcode.NOTIMP,
    dns.rcode.REFUSED,
    dns.rcode.YXDOMAIN,
    dns.rcode.YXRRSET,
    dns.rcode.NXRRSET,
    dns.rcode.NOTAUTH,
    dns.rcode.NOTZONE,
}


def _seeds(key: dns.tsig.Key) -> list[bytes]:
    out = []
    add = dns.update.UpdateMessage(ZONE)
    add.add(CHALLENGE, 60, "TXT", "a" * 43)
    delete = dns.update.UpdateMessage(ZONE)
    delete.delete(CHALLENGE, "TXT", "a" * 43)
    prereq = dns.update.UpdateMessage(ZONE)
    prereq.absent(CHALLENGE, "TXT")
    prereq.present(HOST)
    prereq.add(CHALLENGE, 60, "TXT", "b" * 43)
    other = dns.update.UpdateMessage(ZONE)
    other.add(HOST, 60, "A", "192.0.2.9")
    other.delete(ZONE, "NS")
    soa = dns.message.make_query(ZONE, "SOA", use_edns=0)
    for msg in (add, delete, prereq, other, soa):
        out.append(msg.to_wire())  # unsigned
        msg.use_tsig(key)
        out.append(msg.to_wire())
    return out


def _mutate(seed: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(seed)
    for pos, value in edits:
        if data:
            data[pos % len(data)] = value
    return bytes(data[:cut]) if cut < len(data) else bytes(data)


async def _provision(data: Path) -> dns.tsig.Key:
    store = await Store.open(data, announce=True)
    try:
        await add_zone(store, ZONE, [], 60)
        row = HostRow(HOST, ZONE, None, auth.sha256_hex(auth.new_secret()), created=time.time())
        await store.add_host(row, AuditEntry("test", "host add", HOST, ""))
        await store.set_tsig_key(KEY_ROW, AuditEntry("test", "host tsig", HOST, ""))
        server = tsigkeys.server_key(data, create=True)
        assert server is not None
        return tsigkeys.keyring(server, [KEY_ROW])[dns.name.from_text(HOST)].key
    finally:
        await store.close()


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    data = tmp_path_factory.mktemp("fuzz")
    key = asyncio.run(_provision(data))
    return data, _seeds(key)


def _check(query: bytes, resp: bytes | None) -> None:
    if resp is None:
        assert len(query) < 12 or query[2] & 0x80, "only non-queries go unanswered"
        return
    assert resp[:2] == query[:2]
    assert resp[2] & 0x80  # QR
    parsed = dns.message.from_wire(resp, keyring=False)
    assert parsed.rcode() in ALLOWED, dns.rcode.to_text(parsed.rcode())


async def _run(data: Path, packets: list[bytes]) -> None:
    store = await Store.open(data)
    catalog = Catalog()
    service = DdnsService(store, catalog)
    await service.start()
    try:
        config = ServerConfig.build({"data": data, "limits": {"enabled": False}})
        api = ApiContext(service, config, prometheus_client.CollectorRegistry())
        handler = UpdateHandler(service, api, asyncio.get_running_loop())
        before = {name: catalog.rdata_at(ZONE, name) for name in (ZONE, HOST)}
        for packet in packets:
            for address in (None, b"\x7f\x00\x00\x01"):
                _check(packet, await handler.handle(packet, address, tcp=address is not None))
            assert service.running
        # Whatever got through changed the challenge name only.
        assert {name: catalog.rdata_at(ZONE, name) for name in (ZONE, HOST)} == before
        api.login.passwords.close()
    finally:
        await service.stop()
        await store.close()


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.builds(
                lambda i, edits, cut: (i, edits, cut),
                st.integers(0, 9),
                st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=5),
                st.integers(0, 400),
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_fuzzed_updates_in_process(
    provisioned: tuple[Path, list[bytes]],
    items: list[bytes | tuple[int, list[tuple[int, int]], int]],
) -> None:
    data, seeds = provisioned
    packets = [
        item if isinstance(item, bytes) else _mutate(seeds[item[0]], item[1], item[2])
        for item in items
    ]
    asyncio.run(_run(data, packets))


def _exchange(srv: ServerProc, wire: bytes, tcp: bool) -> bytes | None:
    if tcp:
        with socket.create_connection(srv.dns, timeout=10) as sock:
            sock.sendall(struct.pack(">H", len(wire)) + wire)
            head = sock.recv(2, socket.MSG_WAITALL)
            if len(head) < 2:
                return None  # closed: nothing sensible to answer (RFC 7766 §8)
            return sock.recv(struct.unpack(">H", head)[0], socket.MSG_WAITALL)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect(srv.dns)
        sock.send(wire)
        probe = None
        if len(wire) < 12 or wire[2] & 0x80:
            # May go unanswered. One UDP thread answers datagrams in arrival order, so a
            # query sent right behind it proves the silence without waiting out a timeout.
            probe = dns.message.make_query(ZONE, "SOA")
            probe.id = (int.from_bytes(wire[:2].ljust(2, b"\0"), "big") + 1) % 0x10000
            sock.send(probe.to_wire())
        try:
            resp = sock.recv(65535)
        except TimeoutError:
            return None
        if probe is not None and resp[:2] == probe.id.to_bytes(2, "big"):
            return None
        return resp


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_fuzzed_updates_against_the_server(server: ServerProc, tcp: bool) -> None:
    server.add_host(HOST)
    key = tsig_key(server, HOST)
    seeds = _seeds(key)
    dump = {k: v for k, v in zone_dump(server, []).items() if not k[0].startswith("_acme")}
    import random

    rng = random.Random(2136)
    answered = 0
    for i in range(120):
        seed = seeds[i % len(seeds)]
        edits = [(rng.randrange(len(seed)), rng.randrange(256)) for _ in range(rng.randrange(4))]
        packet = _mutate(seed, edits, rng.randrange(len(seed) + 20))
        resp = _exchange(server, packet, tcp)
        if resp is not None:
            _check(packet, resp)
            answered += 1
    assert answered > 60  # most mutants still have a header worth answering
    assert server.proc.poll() is None
    after = {k: v for k, v in zone_dump(server, []).items() if not k[0].startswith("_acme")}
    # The SOA serial may move (a valid add got through); nothing else outside the challenge.
    strip = {k: v for k, v in after.items() if k[1] != "SOA"}
    assert strip == {k: v for k, v in dump.items() if k[1] != "SOA"}
    assert not [line for line in server.output if "Traceback" in line]
