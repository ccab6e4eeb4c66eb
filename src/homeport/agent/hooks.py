"""What the agent tells the rest of the machine when something changes.

- ``command``: run with HOMEPORT_HOST, HOMEPORT_IPV4, HOMEPORT_IPV6,
  HOMEPORT_OLD_IPV4, HOMEPORT_OLD_IPV6 and HOMEPORT_EVENT in its environment
  (``changed`` when a new address was published, ``failed`` when a host was
  stopped by a fatal code);
- ``advertise_file``: a JSON document (name, public addresses, ports) replaced
  atomically, for local services that must know their public address (the
  seed's gRPC gateway takes ``--advertise-host``);
- ``webhook``: a JSON POST on state changes only (never once per poll).

A failing hook is logged and never stops the agent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from homeport.agent.config import HooksSection
from homeport.errors import HomeportError

log = logging.getLogger("homeport.agent")


@dataclass(frozen=True)
class Event:
    host: str
    event: str  # "changed" | "failed"
    ipv4: IPv4Address | None
    ipv6: IPv6Address | None
    old_ipv4: IPv4Address | None
    old_ipv6: IPv6Address | None
    code: str = ""

    def env(self) -> dict[str, str]:
        def text(value: object) -> str:
            return "" if value is None else str(value)

        return {
            "HOMEPORT_HOST": self.host,
            "HOMEPORT_EVENT": self.event,
            "HOMEPORT_IPV4": text(self.ipv4),
            "HOMEPORT_IPV6": text(self.ipv6),
            "HOMEPORT_OLD_IPV4": text(self.old_ipv4),
            "HOMEPORT_OLD_IPV6": text(self.old_ipv6),
            "HOMEPORT_CODE": self.code,
        }

    def as_json(self) -> dict[str, str]:
        return {k.removeprefix("HOMEPORT_").lower(): v for k, v in self.env().items()}


async def run_command(hooks: HooksSection, event: Event) -> None:
    if hooks.command:
        await run_hook_command(
            hooks.command, event.env(), hooks.command_timeout, f"hook command for {event.host}"
        )


async def run_hook_command(command: str, env: dict[str, str], time_limit: float, what: str) -> None:
    """Run a user's hook (split like a shell line, no shell) with ``env`` added, at most
    ``time_limit`` seconds; a failure is logged (``what`` names it), never raised: a hook
    cannot stop the agent's work."""
    try:
        process = await asyncio.create_subprocess_exec(
            *shlex.split(command), env={**os.environ, **env}
        )
    except (OSError, ValueError) as exc:
        log.error("%s cannot start: %s", what, exc)
        return
    try:
        async with asyncio.timeout(time_limit):
            status = await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        log.error("%s killed after %g s", what, time_limit)
        return
    if status:
        log.warning("%s exited with status %d", what, status)


def write_advertise(
    hooks: HooksSection, name: str, ipv4: IPv4Address | None, ipv6: IPv6Address | None
) -> None:
    if not hooks.advertise_file:
        return
    from homeport.agent.statefile import write_atomic

    document: dict[str, object] = {
        "name": hooks.advertise_name or name,
        "ipv4": str(ipv4) if ipv4 else None,
        "ipv6": str(ipv6) if ipv6 else None,
        "ports": list(hooks.advertise_ports),
    }
    path = Path(hooks.advertise_file)
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(current, dict) and {k: current.get(k) for k in document} == document:
            return  # unchanged: readers watching the file's mtime are not woken for nothing
    except (OSError, ValueError):
        pass  # absent or unreadable: write it
    document["updated"] = int(time.time())
    try:
        write_atomic(path, json.dumps(document).encode() + b"\n", 0o644)
    except OSError as exc:
        log.error("cannot write %s: %s", hooks.advertise_file, exc.strerror or exc)


async def send_webhook(hooks: HooksSection, payload: dict[str, object], time_limit: float) -> None:
    if not hooks.webhook:
        return
    from homeport.io import http

    body = json.dumps(payload).encode()
    try:
        response = await http.request(
            "POST",
            hooks.webhook,
            headers=(("Content-Type", "application/json"),),
            body=body,
            time_limit=time_limit,
        )
    except HomeportError as exc:
        log.warning("webhook failed: %s", exc)
        return
    if response.status >= 300:
        log.warning("webhook answered HTTP %d", response.status)
