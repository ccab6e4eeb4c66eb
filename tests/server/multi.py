"""Several ``homeport server run`` instances on one PostgreSQL database, behind haproxy.

Used by tests/server/test_pg_multi.py and bench/multi_instance.py. Every instance
has a data directory of its own (as on separate machines): the database is all they
share. haproxy (Debian's) spreads HTTP over them round-robin, checks them every
:data:`CHECK_INTERVAL_MS` and sends a refused connection to another instance.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from tests.providers.dns_peers import free_port
from tests.server.conftest import ServerProc

# haproxy health checks: a killed instance is taken out after one failed check.
CHECK_INTERVAL_MS = 200
# RFC 1982 §3.2: s1 is less than s2 if they differ by less than 2**31 "upwards".
SERIAL_HALF = 2**31
SERIAL_SPACE = 2**32
# A poll that gets no answer (the instance is down) waits this long at most.
POLL_TIMEOUT = 0.5

HAPROXY_CONFIG = """
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
frontend updates
    bind 127.0.0.1:{port}
    default_backend homeport
backend homeport
    balance roundrobin
{servers}
"""


def serial_before(a: int, b: int) -> bool:
    """RFC 1982: ``a`` < ``b`` in serial number arithmetic."""
    return a != b and (b - a) % SERIAL_SPACE < SERIAL_HALF


@contextlib.contextmanager
def haproxy(directory: Path, backends: list[tuple[str, int]]) -> Iterator[tuple[str, int]]:
    """haproxy in the foreground on a free loopback port; yields that address."""
    port = free_port()
    servers = "\n".join(
        f"    server i{n} {host}:{p} check inter {CHECK_INTERVAL_MS} fall 1 rise 1"
        for n, (host, p) in enumerate(backends)
    )
    config = directory / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    log = directory / "haproxy.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"haproxy did not start: {log.read_text()}")
            time.sleep(0.05)
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def soa_serial(address: tuple[str, int], zone: str) -> int | None:
    """The SOA serial ``address`` serves for ``zone``, or None (no answer)."""
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    try:
        reply = dns.query.udp(query, address[0], port=address[1], timeout=POLL_TIMEOUT)
    except (dns.exception.DNSException, OSError):
        return None
    for rrset in reply.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(rrset[0].serial)
    return None


def a_record(address: tuple[str, int], name: str) -> str | None:
    """The one A address ``address`` serves at ``name`` (None: none, or no answer)."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        reply = dns.query.udp(query, address[0], port=address[1], timeout=POLL_TIMEOUT)
    except (dns.exception.DNSException, OSError):
        return None
    for rrset in reply.answer:
        if rrset.rdtype == dns.rdatatype.A:
            return str(rrset[0].address)
    return None


@dataclass
class SerialWatch:
    """Polls each instance's SOA serial in a thread; records any step backwards.

    ``targets`` maps an instance's label to its current DNS address (a restarted
    instance gets a new port: the test updates the entry); its history spans restarts.
    """

    zone: str
    targets: dict[str, tuple[str, int]]
    seen: dict[str, list[int]] = field(default_factory=dict)
    backwards: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            for label, address in list(self.targets.items()):
                serial = soa_serial(address, self.zone)
                if serial is None:
                    continue
                history = self.seen.setdefault(label, [])
                if history and serial_before(serial, history[-1]):
                    self.backwards.append(f"{label}: {history[-1]} -> {serial}")
                if not history or serial != history[-1]:
                    history.append(serial)
            self._stop.wait(0.02)


def wait_until(check: Callable[[], bool], deadline: float) -> float | None:
    """Seconds until ``check`` held, polling; None if ``deadline`` seconds passed first."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > deadline:
            return None
        time.sleep(0.01)


def served_everywhere(servers: list[ServerProc], expected: dict[str, str]) -> Callable[[], bool]:
    """A check: every server answers every name in ``expected`` with its address.

    A (server, name) pair once seen right is not asked again.
    """
    missing = {(n, name) for n in range(len(servers)) for name in expected}

    def check() -> bool:
        for n, name in sorted(missing):
            if a_record(servers[n].dns, name) == expected[name]:
                missing.discard((n, name))
        return not missing

    return check
