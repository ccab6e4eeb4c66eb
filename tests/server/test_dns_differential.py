"""homeport answers as NSD does, query for query, for one realistic zone (and Knot, but a list).

One master file, data/differential.zone (apex MX/TXT/CAA/A/AAAA/NS, CNAME chains in the zone, out
of it and in loops, wildcards with a sibling and names below them, an empty non-terminal, a
delegation with glue, SRV, multi-string and oversized TXT, names defined after their descendants),
is served at once by

- ``homeport server run`` as installed (a subprocess; the zone loaded with ``homeport server zone
  import``), once on uvloop and once on plain asyncio (the ready line says which loop runs);
- NSD 4.6 (``nsd -d``, remote control off, RRL off, ``minimal-responses: yes``);
- Knot 3.2 (``knotd``, default semantic checks).

Every query of :data:`QUERIES` (names x types, NXDOMAIN names, names below wildcards, the
delegation and below it; without EDNS, with EDNS, with DO; RD and CD clear and set; lower and
0x20 mixed case) goes to each server over UDP and over TCP with dnspython. :func:`comparable`
turns a response into the value compared: rcode, header flags (AA, TC, RD ...), EDNS (version, DO,
payload, options such as Extended DNS Errors), the question as echoed, and the answer, authority
and additional sections as sets of RRsets with their TTLs. The question and every owner name
keep their letter case: NSD echoes the query's 0x20 case in the question and, by compressing
against it, in owner names, and so does homeport. Names inside RDATA are compared without case:
there NSD writes the case of whichever earlier name it compressed against (even the question
name, for an SOA MNAME equal to it), an accident of compression that RFC 4343 §3 makes
meaningless. The SOA serial is the file's on every server (homeport keeps an imported zone's
serial), so nothing is normalised.

Why NSD runs with ``minimal-responses: yes``: homeport answers minimally, as Knot does by
default. The NS RRset in the authority section of a positive answer and addresses of MX/SRV
targets in the additional section are optional (RFC 1034 §4.3.2 steps 4 and 6; RFC 2181 §5.4.1
ranks them as the least trusted data a resolver can get) and only make answers larger and
more prone to truncation. What is not optional is still compared: referral NS and glue (RFC 1034
§4.3.2 step 3b, RFC 9471), and the glue of the apex NS RRset.

Where NSD and Knot disagree homeport follows NSD, and :data:`KNOT_DIFFERS` lists exactly those
(name, type) pairs, left out of the Knot comparison; each must really differ, so the list cannot
rot:

- ANY (RFC 8482 §4.1 allows one RRset of the responder's choice): NSD takes the first address,
  MX or PTR RRset -- at a zone apex the SOA, the record RFC 1035 §5.2 puts first and the one that
  says whose zone it is -- where Knot takes the lowest type number (the apex A).
- MX and SRV answers (and ANY answered with them): Knot adds the targets' in-zone addresses to
  the additional section, NSD with minimal responses does not. RFC 1034 §4.3.2 step 6 and
  RFC 2782 make them optional, resolvers do not trust them (RFC 2181 §5.4.1) and look the target
  up anyway, and in a dynamic-DNS zone they would tie the MX answer to a host that changes.

Zone import is checked here too: every record of the file (read by dnspython's own zone
parser) is served exactly as written -- in the answer, or as referral data -- and their count
is the ``served`` count ``zone import`` reports.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from tests.helpers import run_homeport
from tests.providers.dns_peers import free_port, nsd_command

from .conftest import ServerProc, start_server, stop_server

pytestmark = pytest.mark.peer

ZONE_FILE = Path(__file__).parent / "data" / "differential.zone"
ORIGIN = "diff.example."
STARTUP_LIMIT = 30.0  # seconds for a server to load a small zone on a busy 2-core machine
QUERY_TIMEOUT = 5.0  # a loaded 2-core machine; a lost UDP answer fails the test, loudly

# Relative names (None = the apex); each is asked for every type of TYPES.
NAMES = [
    None,
    "www",  # CNAME to the apex
    "alias",  # alias -> www -> apex
    "alias2",  # alias2 -> alias -> www -> apex
    "ext",  # CNAME out of the zone
    "extchain",  # extchain -> ext -> out of the zone
    "dangling",  # CNAME to a name that does not exist (RFC 6604: NXDOMAIN)
    "tomail",
    "loop1",  # loop1 -> loop2 -> loop1
    "self",  # self -> self
    "todeleg",  # CNAME below the delegation
    "toent",  # CNAME to an empty non-terminal
    "towild",  # CNAME to a name the wildcard answers
    "home",  # defined after _acme-challenge.home
    "_acme-challenge.home",
    "late",  # defined after x.y.late and y.late
    "y.late",
    "x.y.late",
    "ns1",
    "mail",
    "mixed",  # owned in the file as "MiXeD"
    "foo.wild",  # below the wildcard
    "a.b.wild",  # two labels below the wildcard
    "*.wild",  # the wildcard itself
    "sib.wild",  # the wildcard's sibling
    "x.sib.wild",
    "nope.sib.wild",  # below the sibling: the wildcard does not apply (RFC 4592 §2.2.1)
    "wild",  # the wildcard's parent, an empty non-terminal
    "any.cn",  # wildcard CNAME
    "q.mx",  # wildcard MX
    "deep",  # empty non-terminal
    "ent.deep",  # empty non-terminal
    "host.ent.deep",
    "nope.ent.deep",
    "sub",  # the delegation
    "www.sub",  # below it
    "ns1.sub",  # its glue
    "a.b.sub",
    "_sip._udp",
    "_sip._tcp",
    "_udp",  # empty non-terminal
    "sip",
    "txt",
    "big",  # > 512 bytes: TC=1 without EDNS
    "huge",  # > 1232 bytes: TC=1 with EDNS too
    "nope",  # NXDOMAIN
    "no.such.name",
]
TYPES = ["A", "AAAA", "TXT", "MX", "NS", "SOA", "CNAME", "SRV", "CAA", "DS", "ANY"]
# Asked in every EDNS variant: truncation, and names outside the zone (REFUSED, never a resolver).
EXTRA = [
    (f"big.{ORIGIN}", "TXT"),
    (f"huge.{ORIGIN}", "TXT"),
    ("example.com.", "A"),
    ("outside.test.", "SOA"),
    ("example.", "NS"),
    (".", "SOA"),
]
EDNS_VARIANTS = [(-1, False), (0, False), (0, True)]  # (EDNS version or -1, DO)

# Where Knot's answer differs from NSD's and homeport follows NSD (see the module docstring).
KNOT_DIFFERS = {
    "ANY: Knot answers the apex A, NSD the SOA": [(ORIGIN, "ANY")],
    "MX/SRV: Knot adds the targets' addresses": [
        (ORIGIN, "MX"),
        (f"www.{ORIGIN}", "MX"),  # CNAMEs to the apex
        (f"alias.{ORIGIN}", "MX"),
        (f"alias2.{ORIGIN}", "MX"),
        (f"q.mx.{ORIGIN}", "MX"),  # the wildcard MX
        (f"q.mx.{ORIGIN}", "ANY"),
        (f"_sip._udp.{ORIGIN}", "SRV"),
        (f"_sip._udp.{ORIGIN}", "ANY"),
        (f"_sip._tcp.{ORIGIN}", "SRV"),
        (f"_sip._tcp.{ORIGIN}", "ANY"),
    ],
}


@dataclass(frozen=True)
class Query:
    name: str
    rdtype: str
    edns: int  # -1 without EDNS, 0 with EDNS version 0
    do: bool
    flags: int  # RD, CD: resolvers ask authorities with RD clear; validators may set CD
    tcp: bool

    def message(self) -> dns.message.Message:
        msg = dns.message.make_query(self.name, self.rdtype)
        msg.flags = self.flags
        msg.use_edns(self.edns, dns.flags.DO if self.do else 0, payload=1232)
        return msg

    def pair(self) -> tuple[str, str]:
        return self.name.lower(), self.rdtype

    def __str__(self) -> str:
        how = ["TCP" if self.tcp else "UDP", *(["EDNS"] if self.edns >= 0 else [])]
        how += ["DO"] * self.do + dns.flags.to_text(self.flags).split()
        return f"{self.name} {self.rdtype} ({' '.join(how)})"


def _queries() -> list[Query]:
    """Every (name, type) once per transport, the EDNS/DO/RD/case variant rotating; EXTRA in all."""
    rng = random.Random(20261129)
    out = []
    pairs = [(f"{n}.{ORIGIN}" if n else ORIGIN, t) for n in NAMES for t in TYPES]
    for i, (name, rdtype) in enumerate(pairs):
        edns, do = EDNS_VARIANTS[i % 3]
        if (i // 3) % 2:  # 0x20 (draft-vixie-dnsext-dns0x20): each letter's case at random
            name = "".join(c.upper() if rng.random() < 0.5 else c for c in name)
        flags = (dns.flags.RD if i % 5 == 4 else 0) | (dns.flags.CD if i % 7 == 6 else 0)
        out += [Query(name, rdtype, edns, do, flags, tcp) for tcp in (False, True)]
    for name, rdtype in EXTRA:
        for edns, do in EDNS_VARIANTS:
            out += [Query(name, rdtype, edns, do, 0, tcp) for tcp in (False, True)]
    return out


QUERIES = _queries()


def _rdata(rd: dns.rdata.Rdata) -> str:
    """RDATA in presentation form with the names in it lower-cased (RFC 4034 §6.2)."""
    wire = rd.to_digestable()
    return dns.rdata.from_wire(rd.rdclass, rd.rdtype, wire, 0, len(wire)).to_text()


def comparable(msg: dns.message.Message) -> dict[str, object]:
    """Everything a response says but its ID; sections as sets of RRsets, owners with their case."""

    def rrsets(section: list[dns.rrset.RRset]) -> frozenset[tuple[object, ...]]:
        return frozenset(
            (r.name.to_text(), r.rdclass, r.rdtype, r.ttl, frozenset(map(_rdata, r)))
            for r in section
        )

    return {
        "rcode": dns.rcode.to_text(msg.rcode()),
        "flags": dns.flags.to_text(msg.flags),
        "edns": (msg.edns, dns.flags.edns_to_text(msg.ednsflags), msg.payload),
        "options": [opt.to_text() for opt in msg.options],
        "question": [(q.name.to_text(), q.rdclass, q.rdtype) for q in msg.question],
        "answer": rrsets(msg.answer),
        "authority": rrsets(msg.authority),
        "additional": rrsets(msg.additional),
    }


def ask(query: Query, port: int) -> dns.message.Message:
    if query.tcp:
        return dns.query.tcp(query.message(), "127.0.0.1", QUERY_TIMEOUT, port)
    return dns.query.udp(query.message(), "127.0.0.1", QUERY_TIMEOUT, port)


def ask_all(port: int, queries: list[Query] = QUERIES) -> dict[Query, dict[str, object]]:
    return {q: comparable(ask(q, port)) for q in queries}


def _differences(
    ours: dict[Query, dict[str, object]], theirs: dict[Query, dict[str, object]]
) -> dict[Query, str]:
    out = {}
    for query in ours:
        a, b = ours[query], theirs[query]
        if a != b:
            out[query] = "; ".join(f"{k}: {a[k]} != {b[k]}" for k in a if a[k] != b[k])
    return out


# --- the servers ---------------------------------------------------------------------


def _serves_zone(port: int) -> bool:
    with contextlib.suppress(dns.exception.DNSException, OSError):
        reply = dns.query.udp(dns.message.make_query(ORIGIN, "SOA"), "127.0.0.1", 0.5, port)
        return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)
    return False


@contextlib.contextmanager
def running(cmd: list[str], port: int, log: Path) -> Iterator[int]:
    """Run a peer until it serves the zone on ``port``; stop it afterwards, failure or not."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while not _serves_zone(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} did not serve the zone: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def nsd(tmp: Path, port: int) -> list[str]:
    return nsd_command(tmp, port, ORIGIN, ZONE_FILE, "minimal-responses: yes")


def knot(tmp: Path, port: int) -> list[str]:
    conf = tmp / "knot.conf"
    conf.write_text(
        f"""server:
    listen: 127.0.0.1@{port}
    rundir: "{tmp}"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "{tmp}/knot.sock"
database:
    storage: "{tmp}"
log:
  - target: stderr
    any: warning
zone:
  - domain: {ORIGIN}
    file: "{ZONE_FILE}"
    storage: "{tmp}"
    zonefile-sync: -1
    journal-content: none
"""
    )
    return ["knotd", "-c", str(conf)]


@pytest.fixture(scope="module")
def nsd_answers(tmp_path_factory: pytest.TempPathFactory) -> dict[Query, dict[str, object]]:
    tmp = tmp_path_factory.mktemp("nsd")
    with running(nsd(tmp, port := free_port()), port, tmp / "out.log"):
        return ask_all(port)


@pytest.fixture(scope="module")
def knot_answers(tmp_path_factory: pytest.TempPathFactory) -> dict[Query, dict[str, object]]:
    tmp = tmp_path_factory.mktemp("knot")
    with running(knot(tmp, port := free_port()), port, tmp / "out.log"):
        return ask_all(port)


@dataclass
class Homeport:
    server: ServerProc
    imported: dict[str, object]  # what ``zone import --json`` said


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def homeport(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Homeport]:
    """``homeport server run`` as installed, on one event loop, the zone imported from the file."""
    data = tmp_path_factory.mktemp(f"homeport-{request.param}") / "data"
    imported = run_homeport(
        "server", "zone", "import", str(ZONE_FILE), "--zone", ORIGIN, "--data", str(data), "--json"
    )
    assert imported.returncode == 0, imported.stderr
    srv = start_server(data, "--limits", "off", "--loop", request.param)
    try:
        ready = json.loads(next(line for line in srv.output if line.startswith("ready "))[6:])
        assert ready["loop"] == request.param
        yield Homeport(srv, json.loads(imported.stdout))
    finally:
        stop_server(srv)


# --- the comparisons -------------------------------------------------------------------


def test_homeport_answers_as_nsd(
    homeport: Homeport, nsd_answers: dict[Query, dict[str, object]]
) -> None:
    port = homeport.server.dns[1]
    differences = _differences(ask_all(port), nsd_answers)
    # the same UDP questions again (new IDs): now homeport's packet cache answers them
    replayed = _differences(ask_all(port, [q for q in QUERIES if not q.tcp]), nsd_answers)
    compared = len(QUERIES) + sum(not q.tcp for q in QUERIES)
    equal = compared - len(differences) - len(replayed)
    print(f"homeport vs NSD: {compared} queries compared (UDP ones twice), {equal} equal")
    assert not differences, "\n".join(f"{q}: {d}" for q, d in differences.items())
    assert not replayed, "\n".join(f"{q} (replayed): {d}" for q, d in replayed.items())


def test_knot_answers_as_nsd_but_for_the_listed_cases(
    knot_answers: dict[Query, dict[str, object]], nsd_answers: dict[Query, dict[str, object]]
) -> None:
    listed = {pair for pairs in KNOT_DIFFERS.values() for pair in pairs}
    differences = _differences(knot_answers, nsd_answers)
    unlisted = {q: d for q, d in differences.items() if q.pair() not in listed}
    compared = sum(q.pair() not in listed for q in QUERIES)
    print(f"Knot vs NSD: {compared} queries compared, {compared - len(unlisted)} equal")
    assert not unlisted, "\n".join(f"{q}: {d}" for q, d in unlisted.items())
    still_differ = {q.pair() for q in differences}
    assert listed <= still_differ, f"listed, but Knot agrees now: {sorted(listed - still_differ)}"


def test_every_record_of_the_file_is_served_as_written(homeport: Homeport) -> None:
    zone = dns.zone.from_file(str(ZONE_FILE), ORIGIN, relativize=False)
    cut = dns.name.from_text(f"sub.{ORIGIN}")
    port = homeport.server.dns[1]
    served = 0
    for name, rdataset in zone.iterate_rdatasets():
        query = Query(name.to_text(), dns.rdatatype.to_text(rdataset.rdtype), 0, False, 0, True)
        reply = ask(query, port)
        if name.is_subdomain(cut):  # the delegation's NS and glue: a referral carries them
            section = reply.authority if rdataset.rdtype == dns.rdatatype.NS else reply.additional
        else:
            section = reply.answer
        got = [r for r in section if r.name == name and r.rdtype == rdataset.rdtype]
        assert len(got) == 1, f"{query}: {reply}"
        assert (got[0].ttl, set(got[0])) == (rdataset.ttl, set(rdataset)), query
        served += len(rdataset)
    soa = 1  # the SOA is kept apart from the records import counts
    assert homeport.imported == {**homeport.imported, "served": served - soa, "duplicates": 0}
    print(f"zone import: {served} records in the file, {served} served as written")
