"""DNS-01 (RFC 8555 §8.4): TXT values through the host's provider, then seen served.

Values are added one by one (a wildcard and its base name put two at the same
``_acme-challenge`` name; providers add, never replace) and the zone's authoritative
server is asked directly, without recursion, until it answers every value: no fixed
propagation sleep, and no cache between us and the server to wait out. Cleanup deletes
exactly our values, whatever happened to the order.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterable, Mapping

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from homeport.agent import publish
from homeport.core.update import Status
from homeport.errors import ProviderError, RemoteError, TransportError
from homeport.providers.base import Provider, TxtChange

log = logging.getLogger("homeport.cert")

# How often the authoritative server is asked while a value is not served yet: our own
# server answers at once (it acknowledges only what it serves); a BIND primary applies
# an UPDATE before it answers it. Short, so the wait ends as soon as the value is there.
POLL_INTERVAL = 0.1
# Giving up: a value a server has not published within this long will not be.
SERVED_LIMIT = 120.0
QUERY_TIMEOUT = 2.0


async def change(provider: Provider, txt: TxtChange, *, time_limit: float) -> None:
    """Make one TXT change through ``provider``; ProviderError if it said no."""
    flow = provider.txt(txt)  # ConfigError at once for providers without TXT support
    try:
        results = await publish.run(flow, time_limit=time_limit)
    except RemoteError as exc:
        raise type(exc)(f"{txt.fqdn}: TXT {txt.verb}: {exc.message}") from exc
    for result in results:
        if result.status is not Status.GOOD:
            raise ProviderError(
                f"{txt.fqdn}: TXT {txt.verb} refused: {result.message or result.code}",
                result.code,
            )


async def wait_served(
    server: tuple[str, int],
    wanted: Mapping[str, Iterable[str]],
    *,
    limit: float = SERVED_LIMIT,
) -> float:
    """Until ``server`` answers every value of ``wanted`` (fqdn -> values); seconds waited."""
    address = await _address(server[0])
    start = time.monotonic()
    pending = {name: set(values) for name, values in wanted.items()}
    while True:
        for name in list(pending):
            served = await _txt_values(address, server[1], name)
            pending[name] -= served
            if not pending[name]:
                del pending[name]
        if not pending:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            names = ", ".join(sorted(pending))
            raise TransportError(
                f"DNS {server[0]}:{server[1]} did not serve the challenge at {names} "
                f"within {limit:g} s"
            )
        await asyncio.sleep(POLL_INTERVAL)


async def _address(host: str) -> str:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise TransportError(f"cannot resolve the DNS server {host}: {exc.strerror}") from exc
    return str(infos[0][4][0])


async def _txt_values(address: str, port: int, fqdn: str) -> set[str]:
    query = dns.message.make_query(dns.name.from_text(fqdn), dns.rdatatype.TXT)
    query.flags &= ~dns.flags.RD  # ask the authority itself, never a recursion
    try:
        answer, _ = await dns.asyncquery.udp_with_fallback(
            query, address, timeout=QUERY_TIMEOUT, port=port
        )
    except (dns.exception.DNSException, OSError) as exc:
        log.debug("TXT %s at %s:%d: %s", fqdn, address, port, type(exc).__name__)
        return set()
    values: set[str] = set()
    for rrset in answer.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            for rdata in rrset:
                values.add(b"".join(rdata.strings).decode("ascii", "replace"))
    return values
