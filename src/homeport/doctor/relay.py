"""The doctor's relay hop: is the name reachable through the host's tunnel, end to end?

Evidence comes from two places: the agent's tunnel process (its report in the state
directory: session state, since when, the public port granted) and one connection made
here to the relay's public side, as a visitor would make it — to the address the name's
DNS answers (the relay's, while relayed), else the relay's own address. The server's
probe cannot do this part: it connects only to the requester's own public address and
never to the server itself, and here the relay is the server.

Traffic goes only to the relay the [[tunnel]] names (or the address DNS gives the name).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from homeport.core.doctor import RelayEvidence

# A tcp service that says nothing first (SSH does speak, a database may not): a
# connection the relay keeps open this long reached something at home.
TCP_SETTLE = 1.0
# The relay's own answer when no tunnel serves a name (server/relay/visitors.py).
RELAY_502 = b"no tunnel"


@dataclass(frozen=True)
class TunnelTarget:
    """One [[tunnel]] of the agent's config, for the relay hop."""

    host: str
    relay: tuple[str, int]
    kind: str
    port: int
    local: tuple[str, int]


def report_for(target: TunnelTarget, reports: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    relay = f"{target.relay[0]}:{target.relay[1]}"
    for row in reports:
        if (row.get("host"), row.get("relay"), row.get("kind"), row.get("port")) == (
            target.host,
            relay,
            target.kind,
            target.port,
        ):
            return row
    return None


def read_reports(state_dir: Path) -> list[dict[str, Any]]:
    from homeport.agent.statefile import read_tunnels

    return read_tunnels(state_dir)


async def relay_address(relay_host: str, dns_answers: Sequence[str], wait: float) -> str | None:
    """Where a visitor goes: the name's DNS answer, else the relay's own IPv4 address."""
    if dns_answers:
        return dns_answers[0]
    with contextlib.suppress(ValueError):
        return str(ip_address(relay_host.strip("[]")))
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(relay_host, None, family=socket.AF_INET, type=socket.SOCK_STREAM),
            wait,
        )
    except (OSError, TimeoutError):
        return None
    return str(infos[0][4][0]) if infos else None


async def through_relay(
    address: str, public_port: int, kind: str, name: str, wait: float
) -> tuple[bool, str]:
    """Visit ``name`` at the relay's public ``address:public_port`` as a visitor would:
    (the home service answered, what was seen)."""
    context: ssl.SSLContext | None = None
    if kind == "tls":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the TLS hop judges the certificate
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                address, public_port, ssl=context, server_hostname=name if context else None
            ),
            wait,
        )
    except ssl.SSLError as exc:
        return False, f"the TLS handshake through the relay failed ({exc.reason or exc})"
    except (OSError, TimeoutError) as exc:
        return False, f"cannot connect ({_why(exc)})"
    try:
        if kind == "tls":
            return True, "TLS handshake with the service at home"
        if kind == "http":
            writer.write(
                f"HEAD / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode("ascii")
            )
            try:
                head = await asyncio.wait_for(reader.read(4096), wait)
            except (OSError, TimeoutError) as exc:
                return False, f"no answer ({_why(exc)})"
            if not head:
                return False, "closed with no answer: the service at home did not take it"
            status = head.split(b"\r\n", 1)[0].decode("latin-1")[:60]
            if RELAY_502 in head:
                return False, f"the relay answered {status!r}: no tunnel serves the name"
            return True, status
        try:
            first = await asyncio.wait_for(reader.read(1), TCP_SETTLE)
        except TimeoutError:
            return True, "connected, the service waits for the client to speak"
        except OSError as exc:
            return False, f"reset ({_why(exc)})"
        if not first:
            return False, "closed at once: the service at home did not take it"
        return True, "connected, the service spoke first"
    finally:
        writer.transport.abort()


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


async def relay_evidence(
    target: TunnelTarget, report: dict[str, Any] | None, dns_answers: Sequence[str], wait: float
) -> RelayEvidence:
    relay_text = f"{target.relay[0]}:{target.relay[1]}"
    local = f"{target.local[0]}:{target.local[1]}"
    base = RelayEvidence(target.host, relay_text, target.kind, target.port, local, None)
    if report is None:
        return base
    state = str(report.get("state"))
    since = report.get("since")
    error = str(report.get("error") or "")
    evidence = RelayEvidence(
        target.host, relay_text, target.kind, target.port, local, state,
        float(since) if isinstance(since, int | float) else None, error,
    )  # fmt: skip
    public_port = report.get("public_port")
    if state != "up":
        return evidence
    if not isinstance(public_port, int):
        return _with(evidence, None, None, "the relay granted no public port")
    address = await relay_address(target.relay[0], dns_answers, wait)
    if address is None:
        return _with(evidence, None, None, f"no address for {target.relay[0]}")
    through = f"[{address}]:{public_port}" if ":" in address else f"{address}:{public_port}"
    answered, detail = await through_relay(address, public_port, target.kind, target.host, wait)
    return _with(evidence, through, answered, detail)


def _with(
    evidence: RelayEvidence, through: str | None, answered: bool | None, detail: str
) -> RelayEvidence:
    from dataclasses import replace

    return replace(evidence, through=through, answered=answered, detail=detail)
