"""A live homeport DNS listener for tests, plus dig/kdig output parsing.

The listener runs on its own event loop in a thread (as in the server, the
catalog is changed on that loop while the UDP thread answers).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from homeport.core.zone import Catalog, Record, Soa
from homeport.io.dns_server import DnsServer, start_dns

T = TypeVar("T")

ZONE = "example.net."
SOA = Soa("ns1.example.net.", "hostmaster.example.net.", 7, 3600, 600, 86400, 30, 3600)
BIG_TXT = [f'"{"x" * 200}{i:02}"' for i in range(15)]  # ~3 KB: more than any UDP answer we send
RECORDS = [
    Record("example.net.", "NS", 60, "ns1.example.net."),
    Record("example.net.", "NS", 60, "ns2.example.net."),
    Record("example.net.", "MX", 60, "10 mail.example.net."),
    Record("ns1.example.net.", "A", 60, "192.0.2.53"),
    Record("ns1.example.net.", "AAAA", 60, "2001:db8::53"),
    Record("ns2.example.net.", "A", 60, "192.0.2.54"),
    Record("www.example.net.", "A", 60, "192.0.2.1"),
    Record("www.example.net.", "AAAA", 60, "2001:db8::1"),
    Record("home.example.net.", "A", 60, "198.51.100.7"),
    Record("alias.example.net.", "CNAME", 60, "www.example.net."),
    Record("a.b.c.example.net.", "TXT", 60, '"deep"'),
    Record("*.wild.example.net.", "A", 60, "192.0.2.99"),
    Record("*.wild.example.net.", "TXT", 60, '"wildcard"'),
    Record("sub.example.net.", "NS", 60, "ns.sub.example.net."),
    Record("ns.sub.example.net.", "A", 60, "192.0.2.77"),
    *(Record("big.example.net.", "TXT", 60, txt) for txt in BIG_TXT),
]


CHILD = "child.example.net."
CHILD_SOA = Soa("ns1.example.net.", "hostmaster.example.net.", 1, 3600, 600, 86400, 60, 3600)
CHILD_RECORDS = [
    Record("child.example.net.", "NS", 60, "ns1.example.net."),
    Record("host.child.example.net.", "A", 60, "203.0.113.5"),
]


def master_file(origin: str, soa: Soa, records: list[Record]) -> str:
    """The zone as an RFC 1035 master file, for `homeport server zone import`."""
    head = (
        f"$ORIGIN {origin}\n{origin} {soa.ttl} IN SOA {soa.mname} {soa.rname} "
        f"{soa.serial} {soa.refresh} {soa.retry} {soa.expire} {soa.minimum}\n"
    )
    return head + "".join(f"{r.name} {r.ttl} IN {r.rdtype} {r.rdata}\n" for r in records)


def make_catalog() -> Catalog:
    catalog = Catalog()
    catalog.load_zone(ZONE, SOA, RECORDS)
    catalog.load_zone(CHILD, CHILD_SOA, CHILD_RECORDS)
    return catalog


LOOPS = ["uvloop", "asyncio"]  # the shipped default (the `speed` extra) and the fallback


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class LiveDns:
    """A started listener and the loop it runs on (uvloop, as shipped, unless told)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        rrl: bool,
        batch: bool = True,
        host: str = "127.0.0.1",
        loop: str = "uvloop",
    ) -> None:
        self.catalog = catalog
        self.loop = new_loop(loop)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server: DnsServer = self.run(start_dns(catalog, host, 0, rrl=rrl, batch=batch))
        self.port = self.server.udp_address[1]

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop thread (where the server changes the catalog)."""

        async def wrapper() -> T:
            return fn()

        result: T = self.run(wrapper())
        return result

    def close(self) -> None:
        try:
            self.run(self.server.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


@contextmanager
def live_dns(
    catalog: Catalog | None = None,
    *,
    rrl: bool = False,
    batch: bool = True,
    host: str = "127.0.0.1",
    loop: str = "uvloop",
) -> Iterator[LiveDns]:
    dns_ = LiveDns(catalog or make_catalog(), rrl=rrl, batch=batch, host=host, loop=loop)
    try:
        yield dns_
    finally:
        dns_.close()


@dataclass
class DigResult:
    status: str
    flags: set[str]
    answer: list[list[str]] = field(default_factory=list)
    authority: list[list[str]] = field(default_factory=list)
    additional: list[list[str]] = field(default_factory=list)
    question: list[str] = field(default_factory=list)
    edns: str | None = None  # the OPT line as the tool printed it
    text: str = ""


def parse(text: str) -> DigResult:
    """Parse dig's or kdig's default output (the last message printed)."""
    start = text.rfind("->>HEADER<<-")
    body = text[text.rfind("\n", 0, start) + 1 :] if start >= 0 else text
    status = re.search(r"status: (\w+)", body)
    flags = re.search(r";; [Ff]lags: ([a-z ]*);", body)
    result = DigResult(
        status=status.group(1) if status else "",
        flags=set(flags.group(1).split()) if flags else set(),
        text=text,
    )
    section = None
    for line in body.splitlines():
        head = re.match(r";; (QUESTION|ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
        if head:
            section = head.group(1).lower()
        elif re.match(r"; EDNS: |;; Version: ", line):
            result.edns = line
        elif not line.strip() or "PSEUDOSECTION" in line:
            section = None
        elif section == "question":
            result.question = line.lstrip(";").split()
        elif section is not None and not line.startswith(";"):
            getattr(result, section).append(line.split())
    return result


def dig(port: int, *args: str, tool: str = "dig") -> DigResult:
    cmd = [tool, "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return parse(out.stdout + out.stderr)


def kdig(port: int, *args: str) -> DigResult:
    cmd = ["kdig", "@127.0.0.1", "-p", str(port), "+time=2", "+retry=0", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return parse(out.stdout + out.stderr)
