"""Zone transfers answered in-process: TSIG chains, IXFR from the journal, AXFR fallback.

Fast checks of :class:`homeport.server.xfr.Transfers` on a real catalog; the same
paths run against BIND, Knot and NSD in test_secondaries.py.
"""

from __future__ import annotations

import asyncio
import base64

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig

from homeport.core.xfr_journal import Journal
from homeport.core.zone import Catalog, Record, Soa
from homeport.proto import xfr
from homeport.server.store import SecondaryRow
from homeport.server.tsigkeys import HostKey
from homeport.server.xfr import Notifier, Transfers, catalog_records, member_id

ORIGIN = "dyn.example.net."
SOA = Soa("ns1.dyn.example.net.", "hostmaster.dyn.example.net.", 100, 3600, 600, 86400, 60, 3600)
KEY = dns.tsig.Key("sec.", base64.b64encode(b"k" * 32).decode(), "hmac-sha256")
OTHER = dns.tsig.Key("sec.", base64.b64encode(b"x" * 32).decode(), "hmac-sha256")


def setup(names: int = 3, journal_steps: int = 10) -> tuple[Catalog, Transfers]:
    catalog = Catalog()
    catalog.journal = Journal(journal_steps)
    records = [Record(ORIGIN, "NS", 3600, "ns1.dyn.example.net.")]
    records += [Record(f"h{i}.{ORIGIN}", "A", 60, f"192.0.2.{i % 250 + 1}") for i in range(names)]
    catalog.load_zone(ORIGIN, SOA, records)
    transfers = Transfers(catalog, catalog.journal)
    transfers.keyring.secondaries = {KEY.name: KEY}
    catalog.signed = transfers.signed
    return catalog, transfers


def query(
    rdtype: str, key: dns.tsig.Key | None = KEY, serial: int | None = None
) -> dns.message.Message:
    q = dns.message.make_query(ORIGIN, rdtype)
    if serial is not None:
        soa = f"ns1.dyn.example.net. hostmaster.dyn.example.net. {serial} 3600 600 86400 60"
        q.authority.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA", soa))
    if key is not None:
        q.use_tsig({key.name: key}, keyname=key.name)
    return q


def receive(q: dns.message.Message, wires: list[bytes]) -> list[dns.message.Message]:
    """Parse and TSIG-check a multi-message answer the way a secondary does."""
    out = []
    ctx = None
    for wire in wires:
        msg = dns.message.from_wire(
            wire,
            keyring={KEY.name: KEY},
            request_mac=q.mac,
            xfr=True,
            tsig_ctx=ctx,
            multi=True,
        )
        ctx = msg.tsig_ctx
        out.append(msg)
    return out


def rrs(messages: list[dns.message.Message]) -> list[tuple[str, str, str]]:
    return [
        (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), rd.to_text())
        for m in messages
        for rrset in m.answer
        for rd in rrset
    ]


def test_axfr_of_a_big_zone_is_several_signed_messages_soa_first_and_last() -> None:
    _, transfers = setup(names=3000)
    q = query("AXFR")
    wires = transfers.respond(q.to_wire(), b"\x7f\x00\x00\x01")
    assert wires is not None
    assert len(wires) > 1
    msgs = receive(q, wires)
    got = rrs(msgs)
    assert got[0][1] == "SOA"
    assert got[-1] == got[0]
    assert len([r for r in got if r[1] == "A"]) == 3000


def test_ixfr_sends_the_journals_steps_and_axfr_beyond_it() -> None:
    catalog, transfers = setup(journal_steps=2)
    catalog.replace_name(
        ORIGIN, f"h1.{ORIGIN}", [Record(f"h1.{ORIGIN}", "A", 60, "192.0.2.99")], 101
    )
    q = query("IXFR", serial=100)
    got = rrs(receive(q, transfers.respond(q.to_wire(), b"") or []))
    serials = [int(r[2].split()[2]) for r in got if r[1] == "SOA"]
    assert serials == [101, 100, 101, 101]  # current, old, new, current (RFC 1995 §4)
    assert ("h1.dyn.example.net.", "A", "192.0.2.2") in got  # removed
    assert ("h1.dyn.example.net.", "A", "192.0.2.99") in got  # added
    assert len(got) == 6
    # Current already: the SOA alone.
    q = query("IXFR", serial=101)
    assert rrs(receive(q, transfers.respond(q.to_wire(), b"") or []))[0][1] == "SOA"
    assert transfers.sent["ixfr"] == 2
    # Two more steps push serial 100 out of a two-step journal: AXFR.
    catalog.replace_name(ORIGIN, f"h1.{ORIGIN}", [], 102)
    catalog.replace_name(ORIGIN, f"h2.{ORIGIN}", [], 103)
    q = query("IXFR", serial=100)
    got = rrs(receive(q, transfers.respond(q.to_wire(), b"") or []))
    assert transfers.sent["axfr"] == 1
    assert ("h0.dyn.example.net.", "A", "192.0.2.1") in got
    assert not any(r[0] == "h1.dyn.example.net." for r in got)


def test_unsigned_and_wrong_key_transfers_get_nothing() -> None:
    _, transfers = setup()
    unsigned = transfers.respond(query("AXFR", key=None).to_wire(), b"")
    assert unsigned is not None
    assert len(unsigned) == 1
    msg = dns.message.from_wire(unsigned[0])
    assert msg.rcode() == dns.rcode.REFUSED
    assert not msg.answer
    wrong = transfers.respond(query("AXFR", key=OTHER).to_wire(), b"")
    assert wrong is not None
    msg = dns.message.from_wire(wrong[0], keyring=False)
    assert msg.rcode() == dns.rcode.NOTAUTH
    assert not msg.answer
    assert transfers.sent == {"axfr": 0, "ixfr": 0, "refused": 2}


def test_a_hosts_update_key_gets_no_transfer_and_the_tsig_error_says_why() -> None:
    # One keyring holds both kinds of key; a transfer looks at the secondaries' only.
    _, transfers = setup()
    host_key = dns.tsig.Key("host.dyn.example.net.", base64.b64encode(b"h" * 32).decode())
    transfers.keyring.hosts = {host_key.name: HostKey(host_key, "host.dyn.example.net.")}
    for rdtype in ("AXFR", "SOA"):
        q = query(rdtype, key=host_key).to_wire()
        answer = transfers.respond(q, b"") if rdtype == "AXFR" else [transfers.signed(q, True)]
        assert answer is not None
        assert answer[0] is not None
        msg = dns.message.from_wire(answer[0], keyring=False)
        assert msg.rcode() == dns.rcode.NOTAUTH
        assert not msg.answer
        # RFC 8945 §5.3.2: an unsigned TSIG record carrying BADKEY, its MAC empty.
        assert msg.tsig is not None
        assert msg.tsig[0].error == dns.rcode.BADKEY
        assert msg.tsig[0].mac == b""


def test_a_signed_soa_query_is_answered_signed_over_udp_and_tcp() -> None:
    catalog, _ = setup()
    for tcp in (False, True):
        q = query("SOA")
        wire = catalog.respond(q.to_wire(), tcp=tcp)
        assert wire is not None
        resp = dns.message.from_wire(wire, keyring={KEY.name: KEY}, request_mac=q.mac)
        assert resp.had_tsig
        assert resp.answer[0][0].serial == 100
    bad = catalog.respond(query("SOA", key=OTHER).to_wire(), tcp=False)
    assert bad is not None
    assert dns.message.from_wire(bad, keyring=False).rcode() == dns.rcode.NOTAUTH


def test_the_catalog_zone_lists_members_by_stable_ids() -> None:
    records = catalog_records("catalog.homeport.invalid.", ["a.example.", "b.example."])
    ptrs = {r.name: r.rdata for r in records if r.rdtype == "PTR"}
    assert ptrs == {
        f"{member_id('a.example.')}.zones.catalog.homeport.invalid.": "a.example.",
        f"{member_id('b.example.')}.zones.catalog.homeport.invalid.": "b.example.",
    }
    assert member_id("A.Example.") == member_id("a.example.")
    assert ("version.catalog.homeport.invalid.", "TXT", '"2"') in {
        (r.name, r.rdtype, r.rdata) for r in records
    }


def test_notify_is_an_aa_notify_with_the_soa_signed_by_the_secondarys_key() -> None:
    catalog, _ = setup()
    state = catalog.zone_state(b"\x03dyn\x07example\x03net\x00")
    assert state is not None
    qid, wire = xfr.notify(state.soa_rrset(), KEY, lambda: 4242)
    msg = dns.message.from_wire(wire, keyring={KEY.name: KEY})
    assert qid == msg.id == 4242
    assert msg.opcode() == dns.opcode.NOTIFY
    assert msg.flags & dns.flags.AA
    assert not msg.flags & dns.flags.RD
    assert msg.had_tsig
    assert msg.answer[0][0].serial == 100


def test_changes_while_a_notify_is_out_are_coalesced_into_one_more() -> None:
    async def go() -> list[int]:
        catalog, _ = setup()
        loop = asyncio.get_running_loop()
        received: asyncio.Queue[int] = asyncio.Queue()
        release = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        class Secondary(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                msg = dns.message.from_wire(data, keyring=False)
                received.put_nowait(int(msg.answer[0][0].serial))
                tasks.add(loop.create_task(self.ack(msg, addr)))

            async def ack(self, msg: dns.message.Message, addr: tuple[str, int]) -> None:
                await release.wait()  # hold the first answer while changes pile up
                resp = dns.message.make_response(msg)
                resp.keyring = None
                resp.tsig = None
                self.transport.sendto(resp.to_wire(), addr)  # type: ignore[attr-defined]

        transport, _ = await loop.create_datagram_endpoint(Secondary, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        notifier = Notifier(catalog)
        notifier.secondaries = [SecondaryRow("sec.", "127.0.0.1", port, "hmac-sha256", "")]
        assert catalog.journal is not None
        catalog.journal.listeners.append(notifier.poke)
        for serial in range(101, 111):
            catalog.replace_name(ORIGIN, f"h1.{ORIGIN}", [], serial)
        first = await asyncio.wait_for(received.get(), 10)
        for serial in range(111, 121):
            catalog.replace_name(ORIGIN, f"h2.{ORIGIN}", [], serial)
        release.set()
        second = await asyncio.wait_for(received.get(), 10)
        await notifier.close()
        transport.close()
        return [first, second]

    # The first NOTIFY carries the serial after the first batch of changes; the
    # ten changes made while it was out travel in one more NOTIFY, of the last serial.
    assert asyncio.run(go()) == [110, 120]


def test_ixfr_over_udp_gets_the_current_soa_alone() -> None:
    catalog, _ = setup()
    q = query("IXFR", serial=90)
    wire = catalog.respond(q.to_wire(), tcp=False)
    assert wire is not None
    resp = dns.message.from_wire(wire, keyring={KEY.name: KEY}, request_mac=q.mac)
    assert [r.rdtype for r in resp.answer] == [dns.rdatatype.SOA]
    assert resp.answer[0][0].serial == 100


def test_with_source_checks_the_right_key_from_another_address_is_refused() -> None:
    _, transfers = setup()
    transfers.sources = {KEY.name: b"\x7f\x00\x00\x02"}
    q = query("AXFR")
    refused = transfers.respond(q.to_wire(), b"\x7f\x00\x00\x01")
    assert refused is not None
    assert dns.message.from_wire(refused[0], keyring=False).rcode() == dns.rcode.REFUSED
    allowed = transfers.respond(q.to_wire(), b"\x7f\x00\x00\x02")
    assert allowed is not None
    assert len(rrs(receive(q, allowed))) > 3
