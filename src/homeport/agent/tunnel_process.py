"""The tunnel process: the agent's [[tunnel]] entries, kept open while the daemon runs.

Started by the daemon (:mod:`homeport.agent.supervisor`) like the mapping keeper, as
``python -m homeport.agent.tunnel_process PLAN`` where PLAN is ``{"config": FILE,
"state_dir": DIR}`` (no secret: argv is visible to every user). It reads the config file
itself, runs one :class:`~homeport.agent.tunnel.TunnelClient` per (relay, host) — the relay
keeps one session per host — and writes every change to ``STATE_DIR/tunnels.json``
(``homeport agent status``, the metrics' ``homeport_tunnel_up``, the doctor's relay hop).

stdin is the parent's lifeline (EOF: the parent is gone, stop) and brings JSON lines: the
mapping keeper's events and ``{"kind": "public", "ipv4": ...}`` after each cycle. They
drive ``mode = "auto"`` (:func:`homeport.core.tunnel.want_relay`) and a router event that
moved the WAN address (``external-ip``, ``router-reboot``) nudges every session, as a
local address change (netlink) does: a dead path is replaced at once, not after 40 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any

from homeport.agent.config import TunnelEntry
from homeport.agent.statefile import TUNNELS_FILE, write_atomic
from homeport.agent.tunnel import LocalRoute, Status, Target, TunnelClient
from homeport.core import tunnel as policy
from homeport.errors import HomeportError, RelayRefused

log = logging.getLogger("homeport.agent")

# The keeper's events that may mean the WAN address moved under a live session.
NUDGES = frozenset({"external-ip", "router-reboot", "recreated"})

GroupKey = tuple[tuple[str, int], str]  # (relay, host): one session


def status_path(state_dir: Path) -> Path:
    return Path(state_dir) / TUNNELS_FILE


class Tunnels:
    """Every [[tunnel]] of the config, grouped in sessions, switched by mode=auto."""

    def __init__(self, entries: Sequence[TunnelEntry], state_dir: Path) -> None:
        self.entries = tuple(entries)
        self.state_dir = state_dir
        # mode=auto: the keeper's last word on the port, the NAT addresses, the decision.
        self.mapping: dict[int, str] = {}
        self.router_external: IPv4Address | None = None
        self.public: IPv4Address | None = None
        self.relayed = {e.index: e.mode == "always" for e in self.entries}
        self.clients: dict[GroupKey, tuple[TunnelClient, asyncio.Task[None]]] = {}
        self.refused: dict[GroupKey, str] = {}

    # --- what runs --------------------------------------------------------------------

    def _groups(self) -> dict[GroupKey, list[TunnelEntry]]:
        groups: dict[GroupKey, list[TunnelEntry]] = {}
        for entry in self.entries:
            groups.setdefault((entry.relay, entry.host), []).append(entry)
        return groups

    def apply(self) -> None:
        """Start, restart (its set of tunnels changed) or stop each session."""
        for key, entries in self._groups().items():
            active = [e for e in entries if self.relayed[e.index]]
            routes = tuple(LocalRoute(e.kind, e.port, e.local, e.proxy) for e in active)
            running = self.clients.get(key)
            if running is not None and running[0].target.routes == routes:
                continue
            if running is not None:
                running[1].cancel()
                del self.clients[key]
            if routes and key not in self.refused:
                first = active[0]
                target = Target(first.relay, first.host, first.secret, routes,
                                first.fingerprint or None, first.ca or None)  # fmt: skip
                client = TunnelClient(target, on_status=lambda _s: self.write_status())
                self.clients[key] = (client, asyncio.create_task(self._keep(key, client)))
        self.write_status()

    async def _keep(self, key: GroupKey, client: TunnelClient) -> None:
        try:
            await client.run()
        except RelayRefused as exc:
            # Said once; not retried until the config changes (a reload restarts us).
            log.error(
                "tunnel %s at %s stopped: %s; fix the config, then reload (SIGHUP)",
                client.target.host,
                client.target.relay_text,
                exc,
            )
            self.refused[key] = str(exc)
            self.write_status()

    def nudge(self) -> None:
        for client, _ in self.clients.values():
            client.nudge()

    async def stop(self) -> None:
        tasks = [task for _, task in self.clients.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.clients.clear()

    # --- what the parent tells --------------------------------------------------------

    def heard(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "public":
            self.public = _v4(event.get("ipv4"))
        elif isinstance(kind, str):
            address = _v4(event.get("external_ip"))
            if address is not None:
                self.router_external = address
            spec = event.get("spec")
            port = spec.get("internal_port") if isinstance(spec, dict) else None
            if isinstance(port, int) and kind in policy.MAPPED | policy.UNMAPPED:
                self.mapping[port] = kind
            if kind in NUDGES:
                self.nudge()
        self.decide()

    def decide(self) -> None:
        """mode=auto: relay or not, per tunnel; each switch logged."""
        changed = False
        for entry in self.entries:
            if entry.mode != "auto":
                continue
            current = self.relayed[entry.index]
            decision = policy.want_relay(
                self.mapping.get(entry.local[1]), self.router_external, self.public, current
            )
            if decision.relay != current:
                changed = True
                self.relayed[entry.index] = decision.relay
                log.info(
                    "tunnel %s %s %d: %s (%s)",
                    entry.host,
                    entry.kind,
                    entry.port,
                    f"relayed through {entry.relay[0]}" if decision.relay else "direct",
                    decision.reason,
                )
        if changed:
            self.apply()

    # --- what others read -------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        rows = []
        for entry in self.entries:
            key = (entry.relay, entry.host)
            running = self.clients.get(key)
            state: Status | None = running[0].status if running is not None else None
            public = None
            if state is not None:
                wanted = (entry.kind, entry.port)
                granted = [g.public_port for g in state.granted if (g.kind, g.port) == wanted]
                public = granted[0] if granted else None
            if key in self.refused:
                name, since, error = "stopped", None, self.refused[key]
            elif not self.relayed[entry.index]:
                name, since, error = "direct", None, ""
            elif state is None:
                name, since, error = "connecting", None, ""
            else:
                name, since, error = state.state, state.since, state.error
            rows.append(
                {
                    "host": entry.host,
                    "relay": f"{entry.relay[0]}:{entry.relay[1]}",
                    "kind": entry.kind,
                    "port": entry.port,
                    "local": f"{entry.local[0]}:{entry.local[1]}",
                    "mode": entry.mode,
                    "state": name,
                    "since": since,
                    "public_port": public,
                    "error": error,
                }
            )
        return rows

    def write_status(self) -> None:
        document = {"time": time.time(), "pid": os.getpid(), "tunnels": self.status()}
        try:
            write_atomic(status_path(self.state_dir), json.dumps(document).encode(), 0o644)
        except OSError as exc:
            log.warning("tunnels: cannot write %s: %s", status_path(self.state_dir), exc)


def _v4(value: object) -> IPv4Address | None:
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        address = ip_address(value)
        return address if isinstance(address, IPv4Address) else None
    return None


async def run(plan: dict[str, Any]) -> int:
    from homeport.agent import config as config_mod
    from homeport.agent.tunnel_command import watch_addresses

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the parent reloads; we are restarted
    try:
        cfg = config_mod.load(plan["config"], ddclient=False)
    except HomeportError as exc:
        log.error("tunnels: %s", exc)
        return 78
    tunnels = Tunnels(cfg.tunnels, Path(plan["state_dir"]))
    reader = asyncio.StreamReader()
    pipe, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(sys.stdin.fileno(), "rb", 0)
    )

    async def listen() -> None:
        while line := await reader.readline():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    tunnels.heard(event)
        stop.set()  # EOF: the parent is gone

    close = watch_addresses(tunnels.nudge)
    listening = asyncio.create_task(listen())
    tunnels.apply()
    try:
        await stop.wait()
    finally:
        listening.cancel()
        pipe.close()
        close()
        await tunnels.stop()
        with contextlib.suppress(OSError):
            status_path(tunnels.state_dir).unlink()
    return 0


def main(argv: Sequence[str]) -> int:
    from homeport.agent.commands import setup_logging
    from homeport.agent.tunnel_command import loop_runner

    setup_logging(int(os.environ.get("HOMEPORT_VERBOSE", "0") or 0))
    return loop_runner()(run(json.loads(argv[0])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
