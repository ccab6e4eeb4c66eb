"""The mapping keeper process, the agent's one long-lived child.

Run as ``python -m homeport.agent.mapping_keeper_process PLAN``, started by the daemon
(:mod:`homeport.agent.supervisor`, through
:class:`homeport.agent.mapping_keeper_control.KeeperChild`) when the config has
``[[mapping]]`` entries. ``PLAN`` is the JSON made by
:func:`homeport.agent.mapping_keeper_control.plan`. It runs a
:class:`MappingKeeper` for them and writes one JSON line per :class:`KeeperEvent` on stdout
(the parent's pipe), plus ``{"kind": "started", "external_ip": ...}`` once every mapping was
tried. It stops —
removing every mapping not marked ``keep`` — on SIGTERM/SIGINT, or when stdin reaches EOF
(the parent died without stopping it: a mapping must not outlive its agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from homeport.errors import HomeportError
from homeport.portmap.mapping_keeper import KeeperEvent, MappingKeeper, MappingSpec

log = logging.getLogger("homeport.agent")

EXIT_STOPPED = 0
EXIT_NO_ROUTER = 69  # EX_UNAVAILABLE: no gateway to talk to (the parent retries later)


def specs(data: dict[str, Any]) -> list[MappingSpec]:
    return [MappingSpec(**entry) for entry in data["mappings"]]


def event_json(event: KeeperEvent) -> dict[str, Any]:
    """One event as the parent reads it (``KeeperWatch.handle`` makes its log line)."""
    out: dict[str, Any] = {"kind": event.kind}
    if event.spec is not None:
        out["spec"] = {
            "protocol": event.spec.protocol,
            "external_port": event.spec.external_port,
            "internal_port": event.spec.internal_port,
        }
    if event.mapping is not None:
        out["mapping"] = {
            "external_port": event.mapping.external_port,
            "internal_host": event.mapping.internal_host,
            "lease": event.mapping.lease,
            "method": event.mapping.method,
        }
    if event.external_ip is not None:
        out["external_ip"] = str(event.external_ip)
    if event.detail:
        out["detail"] = event.detail
    return out


def _write(data: dict[str, Any]) -> None:
    # One write per line: the parent reads whole lines from a pipe (atomic below PIPE_BUF).
    os.write(sys.stdout.fileno(), (json.dumps(data) + "\n").encode())


async def run(data: dict[str, Any]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the parent reloads; we are restarted if needed
    # stdin is the parent's lifeline pipe: EOF means the parent is gone.
    loop.add_reader(sys.stdin.fileno(), stop.set)
    try:
        keeper = MappingKeeper(
            specs(data), gateway=data.get("gateway"), on_event=lambda e: _write(event_json(e))
        )
    except HomeportError as exc:  # no default gateway yet, say
        _write({"kind": "failed", "detail": str(exc)})
        return EXIT_NO_ROUTER
    try:
        # Creating can take a minute when a method does not answer (RFC 6886 retransmits):
        # a stop meanwhile must not wait for it.
        starting = asyncio.create_task(keeper.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            address = await keeper.external_ip()
            _write({"kind": "started", "external_ip": str(address) if address else None})
            await stopping
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    finally:
        await keeper.stop()
    _write({"kind": "stopped"})
    return EXIT_STOPPED


def main(argv: Sequence[str]) -> int:
    from homeport.agent.commands import setup_logging

    setup_logging(int(os.environ.get("HOMEPORT_VERBOSE", "0") or 0))
    data = json.loads(argv[0])
    return asyncio.run(run(data))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
