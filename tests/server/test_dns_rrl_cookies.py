"""Response-rate limiting per response, and DNS cookies, against ``homeport server run``.

RRL used to count every response to a /24 in one bucket, so a
neighbour's NXDOMAIN flood cost everyone in its /24 their answers; and DNS
cookies (RFC 7873) were ignored.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from tests.helpers import run_homeport

from .conftest import ServerProc, start_server, stop_server

NAME = "ns1.dyn.example.net."  # the zone's NS glue: 192.0.2.53
GLUE = "192.0.2.53"
CLIENT_COOKIE = bytes.fromhex("0123456789abcdef")


@pytest.fixture
def limited(data_dir: Path) -> Iterator[ServerProc]:
    """A server with the default limits (RRL on) and the zone of the ``server`` fixture."""
    result = run_homeport(
        "server",
        "zone",
        "add",
        "dyn.example.net",
        "--ns",
        f"{NAME}={GLUE}",
        "--data",
        str(data_dir),
    )
    assert result.returncode == 0, result.stderr
    srv = start_server(data_dir)
    try:
        yield srv
    finally:
        stop_server(srv)


def _query(name: str, qid: int, cookie: bytes | None = None) -> bytes:
    options = [dns.edns.GenericOption(dns.edns.COOKIE, cookie)] if cookie is not None else []
    msg = dns.message.make_query(name, "A", id=qid, use_edns=0 if cookie else False)
    if cookie is not None:
        msg.use_edns(0, options=options)
    return msg.to_wire()


def _udp(source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    return sock


class Flood:
    """NXDOMAIN queries for made-up names from one source, until stopped."""

    def __init__(self, srv: ServerProc, source: str) -> None:
        self.limited = threading.Event()  # set once a reply shows the flooder is limited
        self._stop = threading.Event()
        self._srv = srv
        self._sock = _udp(source)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            for _ in range(20):  # bursts of 20, well past 100/s, not enough to overflow buffers
                self._sock.sendto(_query(f"r{i}.dyn.example.net.", i & 0xFFFF), self._srv.dns)
                i += 1
            try:
                while True:
                    reply = dns.message.from_wire(self._sock.recv(4096))
                    if reply.flags & dns.flags.TC:
                        self.limited.set()
            except TimeoutError:
                pass

    def __enter__(self) -> Flood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._sock.close()


def _ask(
    sock: socket.socket, srv: ServerProc, qid: int, cookie: bytes | None = None
) -> dns.message.Message:
    sock.sendto(_query(NAME, qid, cookie), srv.dns)
    while True:
        reply = dns.message.from_wire(sock.recv(4096))
        if reply.id == qid:
            return reply


def test_a_neighbours_nxdomain_flood_does_not_cost_my_answers(limited: ServerProc) -> None:
    with Flood(limited, "127.0.0.2") as flood, _udp("127.0.0.3") as me:
        # Same /24 as the flood. Wait until the flood is being limited (TC=1 slips).
        assert flood.limited.wait(30), "the NXDOMAIN flood was never rate-limited"
        me.settimeout(5)
        for qid in range(30):
            reply = _ask(me, limited, qid)  # before: dropped (timeout) or TC=1
            assert not reply.flags & dns.flags.TC
            assert reply.rcode() == dns.rcode.NOERROR
            assert reply.answer[0][0].address == GLUE


def _dig(srv: ServerProc, tool: str, *args: str) -> str:
    cmd = [tool, f"@{srv.dns[0]}", "-p", str(srv.dns[1]), "+norec", "+time=3", *args]
    cmd += ["+tries=1"] if tool == "dig" else ["+retry=0"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


def test_dig_and_kdig_get_a_matching_server_cookie(limited: ServerProc) -> None:
    out = _dig(limited, "dig", "+cookie", NAME, "A")
    # dig: "; COOKIE: <client><server> (good)" when the client part matches its own
    match = re.search(r"COOKIE: ([0-9a-f]{16})([0-9a-f]{32}) \(good\)", out)
    assert match, out  # before: no COOKIE in the answer at all
    assert GLUE in out
    client, server = match.groups()
    assert server.startswith("01000000")  # RFC 9018 version 1
    # sent back while fresh, the server cookie is echoed as it is
    again = _dig(limited, "dig", f"+cookie={client}{server}", NAME, "A")
    assert f"COOKIE: {client}{server} (good)" in again, again
    # kdig prints the cookie without a verdict: send a known client cookie, see it echoed
    kout = _dig(limited, "kdig", f"+cookie={CLIENT_COOKIE.hex()}", NAME, "A")
    kmatch = re.search(r"COOKIE: ([0-9a-f]{16})(01000000[0-9a-f]{24})$", kout, re.I | re.M)
    assert kmatch, kout
    assert kmatch.group(1).lower() == CLIENT_COOKIE.hex()
    assert GLUE in kout


def test_a_malformed_cookie_is_formerr(limited: ServerProc) -> None:
    # RFC 7873 §5.2.2: a COOKIE option of 5 bytes is malformed -> FORMERR.
    for tcp in (False, True):
        query = bytearray(_query(NAME, 77, CLIENT_COOKIE))
        # shorten the option: RDLENGTH and OPTION-LENGTH from 12/8 to 9/5, drop 3 bytes
        query[-14:-12] = (9).to_bytes(2, "big")
        query[-10:-8] = (5).to_bytes(2, "big")
        wire = bytes(query[:-3])
        if tcp:
            with socket.create_connection(limited.dns, timeout=5) as sock:
                sock.sendall(len(wire).to_bytes(2, "big") + wire)
                data = sock.recv(4096)[2:]
        else:
            with _udp("127.0.0.1") as sock:
                sock.settimeout(5)
                sock.sendto(wire, limited.dns)
                data = sock.recv(4096)
        assert data[:2] == wire[:2]
        assert data[3] & 15 == dns.rcode.FORMERR, (tcp, data.hex())


def _burst(
    sock: socket.socket, srv: ServerProc, count: int, cookie: bytes
) -> Iterator[dns.message.Message]:
    """``count`` queries for NAME, 20 at a time, every reply read before the next 20."""
    for start in range(0, count, 20):
        ids = range(start, min(start + 20, count))
        for qid in ids:
            sock.sendto(_query(NAME, qid, cookie), srv.dns)
        got = 0
        try:
            while got < len(ids):
                yield dns.message.from_wire(sock.recv(4096))
                got += 1
        except TimeoutError:
            continue  # the rest were dropped (rate-limited)


def test_a_valid_server_cookie_exempts_from_rate_limiting(limited: ServerProc) -> None:
    with _udp("127.0.0.4") as sock:
        sock.settimeout(1.0)
        # Client cookie only, far past the rate for one name: the limited answers are
        # dropped or BADCOOKIE (instead of TC=1) with a server cookie to learn.
        replies = list(_burst(sock, limited, 600, CLIENT_COOKIE))
        bad = [r for r in replies if r.rcode() == dns.rcode.BADCOOKIE]
        assert bad, "the flood was never limited"
        assert not any(r.flags & dns.flags.TC for r in replies)
        learned = bad[0].options[0].to_wire()
        assert learned[:8] == CLIENT_COOKIE
        assert len(learned) == 24
        assert all(not r.answer for r in bad)
        # With the server cookie the source is proven: no limit at all.
        sock.settimeout(5.0)
        replies = list(_burst(sock, limited, 600, learned))
        assert len(replies) == 600
        assert all(r.rcode() == dns.rcode.NOERROR and r.answer for r in replies)
        assert all(r.options[0].to_wire() == learned for r in replies)
