"""A real ``homeport server run`` as hidden primary of BIND 9.18, Knot 3.2 and NSD 4.6.

All on loopback, each peer on its own port with its own TSIG key from
``homeport server secondary add``. The tests share one server and one set of
peers (starting them is most of the cost) and run in file order.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import struct
import time
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import pytest

from tests.helpers import run_homeport
from tests.providers.dns_peers import free_port
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server
from tests.server.httpget import get
from tests.server.secondaries import PEER_DEADLINE, Key, Peer, axfr_lines

ZONE = "dyn.example.net."
# Small, so a secondary can fall behind it in a test (the default is 10,000).
JOURNAL_STEPS = 40
HOSTS = [f"h{i}.dyn.example.net" for i in range(20)]

pytestmark = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("named", "knotd", "nsd", "dig")),
    reason="BIND, Knot, NSD and dig are needed",
)


class Lab:
    def __init__(self, srv: ServerProc, peers: dict[str, Peer], secrets: dict[str, str]) -> None:
        self.srv = srv
        self.peers = peers
        self.secrets = secrets
        self.n = 0

    def update(self, count: int) -> None:
        """``count`` acknowledged updates, each a new address of one of the hosts."""
        for _ in range(count):
            self.n += 1
            host = HOSTS[self.n % len(HOSTS)]
            net = "192.0.2" if self.n % 500 < 250 else "198.51.100"
            ip = f"{net}.{self.n % 250 + 1}"
            status, body, _ = get(
                self.srv.http,
                f"/nic/update?hostname={host}&myip={ip}",
                auth=(host, self.secrets[host]),
            )
            assert status == 200, body
            assert body.split()[0] in ("good", "nochg"), body

    def serial(self, zone: str = ZONE) -> int:
        """The primary's serial of ``zone``; a zone just added by an admin command is
        served once the running server has read the commit (its store task polls)."""
        deadline = time.monotonic() + PEER_DEADLINE
        while True:
            q = dns.message.make_query(zone, "SOA")
            r = dns.query.udp(q, self.srv.dns[0], port=self.srv.dns[1], timeout=2)
            if r.answer:
                return int(r.answer[0][0].serial)
            assert time.monotonic() < deadline, f"the primary does not serve {zone}: {r}"
            time.sleep(0.05)

    def primary_contents(self, zone: str = ZONE) -> set[str]:
        return axfr_lines(self.srv.dns[0], self.srv.dns[1], zone, self.peers["bind"].key)

    def converge(self, *kinds: str, zone: str = ZONE) -> None:
        """Wait until the named peers serve the primary's serial of ``zone``."""
        target = self.serial(zone)
        deadline = time.monotonic() + PEER_DEADLINE
        behind = list(kinds)
        while time.monotonic() < deadline:
            behind = [k for k in kinds if self.peers[k].serial(zone) != target]
            if not behind:
                return
            time.sleep(0.05)
        raise AssertionError(
            f"{behind} did not reach serial {target} of {zone}: "
            + str({k: self.peers[k].serial(zone) for k in behind})
        )

    def transfers(self, kind: str) -> list[tuple[str, int, int]]:
        """(AXFR|IXFR, messages, bytes) the server logged sending to peer ``kind``'s key."""
        key = self.peers[kind].key.name
        out = []
        for line in self.srv.output:
            m = re.search(
                rf"(AXFR|IXFR) of {re.escape(ZONE)} serial \d+ to {re.escape(key)}:"
                r" (\d+) messages, (\d+) bytes",
                line,
            )
            if m:
                out.append((m.group(1), int(m.group(2)), int(m.group(3))))
        return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("secondaries")
    data = tmp / "data"
    result = run_homeport(
        "server", "zone", "add", ZONE, "--ns", f"ns1.{ZONE}=192.0.2.53", "--data", str(data)
    )
    assert result.returncode == 0, result.stderr
    secrets = add_hosts(data, HOSTS)
    dns_port = free_port()
    peers: dict[str, Peer] = {}
    for kind in ("bind", "knot", "nsd"):
        port = free_port()
        result = run_homeport(
            "server",
            "secondary",
            "add",
            kind,
            "--address",
            f"127.0.0.1:{port}",
            "--primary",
            f"127.0.0.1:{dns_port}",
            "--data",
            str(data),
            "--json",
        )
        assert result.returncode == 0, result.stderr
        made = json.loads(result.stdout)
        key = Key(made["key"]["name"], made["key"]["algorithm"], made["key"]["secret"])
        directory = tmp / kind
        directory.mkdir()
        peers[kind] = Peer(kind, directory, port, key, ("127.0.0.1", dns_port), [ZONE])
    config = tmp / "server.toml"
    config.write_text(f"[transfer]\njournal_steps = {JOURNAL_STEPS}\n")
    # On a port chosen before, not an ephemeral one: the peers' configuration names it.
    srv = start_server(
        data, "--limits", "off", "--config", str(config), dns=f"127.0.0.1:{dns_port}"
    )
    lab = Lab(srv, peers, secrets)
    try:
        for peer in peers.values():
            peer.start()
        lab.converge("bind", "knot", "nsd")
        yield lab
    finally:
        for peer in peers.values():
            peer.stop()
        stop_server(srv)
        (tmp / "server.log").write_text("".join(srv.output))  # for a failure's post-mortem


def test_after_1000_updates_every_secondary_holds_the_primarys_zone(lab: Lab) -> None:
    lab.update(1000)
    lab.converge("bind", "knot", "nsd")
    primary = lab.primary_contents()
    assert len(primary) > len(HOSTS)  # SOA, NS, glue and every host's address
    for kind, peer in lab.peers.items():
        assert peer.contents(ZONE) == primary, kind


def test_small_changes_travel_by_ixfr(lab: Lab) -> None:
    # NSD 4.6, notified during its own reload in the burst above, logs "update failed,
    # restarting transfer" and takes its next transfer whole: settle once first.
    lab.update(1)
    lab.converge("bind", "knot", "nsd")
    lab.primary_contents()  # a whole transfer now, for its size (logged under bind's key)
    full = [t for t in lab.transfers("bind") if t[0] == "AXFR"][-1][2]
    before = {k: lab.transfers(k) for k in lab.peers}
    lab.update(1)
    lab.converge("bind", "knot", "nsd")
    for kind in lab.peers:
        assert any(t[0] == "AXFR" for t in before[kind]), kind  # the first one was whole
        new = lab.transfers(kind)[len(before[kind]) :]
        assert new, kind
        # One update: one IXFR of one message, a fraction of the whole zone.
        assert all(t[0] == "IXFR" and t[1] == 1 for t in new), (kind, new)
        assert max(t[2] for t in new) < full / 2, (kind, new, full)


def test_a_restarted_secondary_catches_up_by_ixfr(lab: Lab) -> None:
    knot = lab.peers["knot"]
    knot.stop()
    before = len(lab.transfers("knot"))
    lab.update(JOURNAL_STEPS // 2)  # within the journal
    knot.start()
    lab.converge("knot", "bind", "nsd")
    assert knot.contents(ZONE) == lab.primary_contents()
    kinds = {t[0] for t in lab.transfers("knot")[before:]}
    assert kinds == {"IXFR"}, kinds


def test_a_secondary_behind_the_journal_gets_an_axfr_and_converges(lab: Lab) -> None:
    nsd = lab.peers["nsd"]
    nsd.stop()
    before = len(lab.transfers("nsd"))
    lab.update(JOURNAL_STEPS * 2)  # more changes than the journal holds
    nsd.start()
    lab.converge("nsd", "bind", "knot")
    assert nsd.contents(ZONE) == lab.primary_contents()
    kinds = [t[0] for t in lab.transfers("nsd")[before:]]
    assert "AXFR" in kinds, kinds


def _raw_axfr(lab: Lab, key: Key | None) -> dns.message.Message:
    q = dns.message.make_query(ZONE, "AXFR")
    if key is not None:
        q.use_tsig(dns.tsigkeyring.from_text({key.name: (key.algorithm, key.secret)}))
    wire = q.to_wire()
    with socket.create_connection(lab.srv.dns, timeout=5) as sock:
        sock.sendall(struct.pack(">H", len(wire)) + wire)
        size = struct.unpack(">H", _read(sock, 2))[0]
        return dns.message.from_wire(_read(sock, size), keyring=False)


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "connection closed"
        buf += chunk
    return buf


def test_a_wrong_tsig_key_is_refused(lab: Lab) -> None:
    right = lab.peers["bind"].key
    wrong_secret = Key(right.name, right.algorithm, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    unknown_name = Key("stranger.", right.algorithm, right.secret)
    assert _raw_axfr(lab, wrong_secret).rcode() == dns.rcode.NOTAUTH  # RFC 8945 §5.2 BADSIG
    assert _raw_axfr(lab, unknown_name).rcode() == dns.rcode.NOTAUTH  # BADKEY
    unsigned = _raw_axfr(lab, None)
    assert unsigned.rcode() == dns.rcode.REFUSED
    assert not unsigned.answer
    good = _raw_axfr(lab, right)
    assert good.rcode() == dns.rcode.NOERROR
    assert good.answer
    # dig with the wrong secret gets nothing either.
    assert axfr_lines(lab.srv.dns[0], lab.srv.dns[1], ZONE, wrong_secret) == set()


def test_a_zone_added_on_homeport_reaches_bind_and_knot_through_the_catalog(lab: Lab) -> None:
    new = "added.example.org."
    result = lab.srv.admin("zone", "add", new, "--ns", f"ns1.{new}=192.0.2.54")
    assert result.returncode == 0, result.stderr
    lab.converge("bind", "knot", zone=new)
    primary = lab.primary_contents(new)
    for kind in ("bind", "knot"):
        assert lab.peers[kind].contents(new) == primary, kind


def test_status_shows_each_secondarys_serial_lag(lab: Lab) -> None:
    lab.converge("bind", "knot", "nsd")
    rows = lab.srv.admin_json("status")
    assert isinstance(rows, list)
    mine = {r["secondary"]: r for r in rows if r["zone"] == ZONE}
    assert set(mine) == {"bind.", "knot.", "nsd."}
    for row in mine.values():
        assert row["serial"] == lab.serial()
        assert row["lag"] == 0
    bind = lab.peers["bind"]
    bind.stop()
    try:
        rows = lab.srv.admin_json("status")
        assert isinstance(rows, list)
        down = [r for r in rows if r["secondary"] == "bind." and r["zone"] == ZONE]
        assert down[0]["serial"] is None
    finally:
        bind.start()
    lab.converge("bind")
