"""BIND 9.18, Knot 3.2 and NSD 4.6 as secondaries of a homeport server, on loopback.

Each peer gets its own directory and port, a TSIG key made by
``homeport server secondary add``, and its log in a file the tests read.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring

CATALOG = "catalog.homeport.invalid."
# How long a peer may take to start, or to converge after a change. Polled, not slept.
PEER_DEADLINE = 60.0


@dataclass
class Key:
    name: str  # absolute, as homeport stores it
    algorithm: str
    secret: str

    @property
    def short(self) -> str:
        return self.name.rstrip(".")


@dataclass
class Peer:
    kind: str
    directory: Path
    port: int
    key: Key
    primary: tuple[str, int]
    zones: list[str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / f"{self.kind}.log"

    # -- life --------------------------------------------------------------------

    def start(self) -> None:
        cmd = self._configure()
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.directory
        )
        out.close()
        deadline = time.monotonic() + PEER_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} exited:\n{self.log.read_text()[-3000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.kind} did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self.proc = None

    # -- what it serves ------------------------------------------------------------

    def serial(self, zone: str) -> int | None:
        q = dns.message.make_query(zone, "SOA")
        try:
            r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=1)
        except Exception:
            return None
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        return None

    def contents(self, zone: str) -> set[str]:
        return axfr_lines("127.0.0.1", self.port, zone, None)

    # -- configuration -------------------------------------------------------------

    def _configure(self) -> list[str]:
        return getattr(self, f"_{self.kind}")()  # type: ignore[no-any-return]

    def _bind(self) -> list[str]:
        d, (host, port), k = self.directory, self.primary, self.key
        primaries = f'{host} port {port} key "{k.short}";'
        zones = "".join(
            f'zone "{z}" {{ type secondary; file "{d}/{z}db"; primaries {{ {primaries} }}; }};\n'
            for z in self.zones
        )
        (d / "named.conf").write_text(
            f"""key "{k.short}" {{ algorithm {k.algorithm}; secret "{k.secret}"; }};
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    allow-transfer {{ 127.0.0.1; }};
    notify no;
    catalog-zones {{
        zone "{CATALOG}" default-primaries {{ {primaries} }} zone-directory "{d}";
    }};
}};
controls {{ }};
logging {{
    channel out {{ stderr; severity info; print-time yes; }};
    category default {{ out; }};
    category xfer-in {{ out; }};
    category notify {{ out; }};
}};
zone "{CATALOG}" {{ type secondary; file "{d}/catalog.db"; primaries {{ {primaries} }}; }};
{zones}"""
        )
        return ["named", "-g", "-c", str(d / "named.conf")]

    def _knot(self) -> list[str]:
        d, (host, port), k = self.directory, self.primary, self.key
        (d / "knot").mkdir(exist_ok=True)
        zones = "".join(f"  - domain: {z}\n    template: homeport\n" for z in self.zones)
        (d / "knot.conf").write_text(
            f"""server:
    listen: 127.0.0.1@{self.port}
    rundir: "{d}/knot"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "{d}/knot/knot.sock"
database:
    storage: "{d}/knot"
log:
  - target: stderr
    any: info
key:
  - id: {k.short}
    algorithm: {k.algorithm}
    secret: {k.secret}
remote:
  - id: homeport
    address: {host}@{port}
    key: {k.short}
acl:
  - id: homeport-notify
    address: {host}
    key: {k.short}
    action: notify
  - id: local-transfer
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: "{d}/knot"
  - id: homeport
    master: homeport
    acl: [homeport-notify, local-transfer]
    storage: "{d}/knot"
zone:
  - domain: {CATALOG}
    template: homeport
    catalog-role: interpret
    catalog-template: homeport
{zones}"""
        )
        return ["knotd", "-c", str(d / "knot.conf")]

    def _nsd(self) -> list[str]:
        d, (host, port), k = self.directory, self.primary, self.key
        zones = "".join(
            f"zone:\n    name: {z}\n    include-pattern: homeport\n" for z in self.zones
        )
        (d / "nsd.conf").write_text(
            f"""server:
    server-count: 1
    ip-address: 127.0.0.1
    port: {self.port}
    username: ""
    chroot: ""
    zonesdir: "{d}"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    verbosity: 2
    # NSD's default (1) reloads at most once a second, which sets its update latency.
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
key:
    name: {k.short}
    algorithm: {k.algorithm}
    secret: "{k.secret}"
pattern:
    name: homeport
    request-xfr: {host}@{port} {k.short}
    allow-notify: {host} {k.short}
    provide-xfr: 127.0.0.1 NOKEY
    zonefile: "%s.zone"
{zones}"""
        )
        return ["nsd", "-d", "-c", str(d / "nsd.conf")]


def axfr_lines(host: str, port: int, zone: str, key: Key | None) -> set[str]:
    """A zone's RRs by AXFR (dig), one normalised presentation line each, SOA once."""
    cmd = ["dig", f"@{host}", "-p", str(port), zone, "AXFR", "+noall", "+answer", "+onesoa"]
    if key is not None:
        cmd += ["-y", f"{key.algorithm}:{key.short}:{key.secret}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    lines = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) < 4 or line.startswith(";") or parts[3] == "TSIG":
            continue
        lines.add(" ".join(p.lower() for p in parts))
    return lines


def keyring(key: Key) -> dict[dns.name.Name, object]:
    return dns.tsigkeyring.from_text({key.name: (key.algorithm, key.secret)})  # type: ignore[no-any-return]
