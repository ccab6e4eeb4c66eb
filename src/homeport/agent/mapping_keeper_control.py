"""The daemon's control of the mapping keeper process: start it, read its events, stop it.

Lean on purpose: the daemon's parent imports this module, so it imports neither asyncio nor
pydantic (the idle footprint is benchmarked, see supervisor.py). The process itself runs
:mod:`homeport.agent.mapping_keeper_process`, which keeps the mappings with
:class:`homeport.portmap.mapping_keeper.MappingKeeper`; it writes one JSON line per keeper
event to a pipe that the parent watches next to its signals and netlink socket.

:class:`KeeperWatch` holds the decisions (which event starts an update cycle, what is logged,
when a dead child is started again) with the time passed in, so they are tested without a
process; :class:`KeeperChild` only moves bytes and processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from homeport.core.agent_schedule import RestartBackoff

log = logging.getLogger("homeport.agent")

# Events that mean the public side changed, so the DNS record may be wrong now: the router's
# WAN address moved (GENA ExternalIPAddress), or the router rebooted (it may come back with
# another address, and anyway its mappings were re-created).
TRIGGERS = frozenset({"external-ip", "recreated", "router-reboot"})
# Removing mappings on stop is a few router round trips, but NAT-PMP retransmits for up to
# ~60 s (RFC 6886 §3.1) when the router does not answer; we give up well before systemd's
# 90 s stop timeout.
STOP_LIMIT = 20.0

_known_external_ip: str | None = None


def known_external_ip() -> str | None:
    """The running keeper's last external IPv4 of the router (None: no keeper, or not known).

    Module state on purpose: each cycle's child is a fork of the daemon's parent, so it sees
    the value the parent held when the cycle started (homeport.agent.sources.router).
    """
    return _known_external_ip


def set_known_external_ip(address: str | None) -> None:
    global _known_external_ip
    _known_external_ip = address


def plan(mappings: Sequence[Any], gateway: str | None = None) -> str:
    """The child's argument (JSON) from the config's MappingSection values; no secrets in it.

    Compared as text by the daemon on SIGHUP: a changed plan restarts the child."""
    return json.dumps(
        {
            "gateway": gateway,
            "mappings": [
                {
                    "protocol": m.protocol,
                    "internal_port": m.internal_port,
                    "external_port": m.external_port or m.internal_port,
                    "lease": max(1, round(m.lease)),
                    "method": m.method,
                    "keep": m.keep,
                    "description": m.description,
                }
                for m in mappings
            ],
        },
        sort_keys=True,
    )


def split_lines(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """Whole JSON lines out of ``buffer``; the unfinished tail is returned to keep."""
    *lines, rest = buffer.split(b"\n")
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            log.warning("mapping keeper sent a line that is not JSON: %.80r", line)
            continue
        if isinstance(event, dict) and isinstance(event.get("kind"), str):
            events.append(event)
    return events, rest


def _what(event: dict[str, Any]) -> str:
    spec = event.get("spec") or {}
    mapping = event.get("mapping") or {}
    if not spec:
        return "mapping"
    text = f"mapping {spec.get('protocol')} {spec.get('external_port')}"
    if mapping:
        port = mapping.get("external_port")
        host = mapping.get("internal_host")
        granted = "" if port == spec.get("external_port") else f" (router granted port {port})"
        text += f" -> {host}:{spec.get('internal_port')}{granted} via {mapping.get('method')}"
    return text


class KeeperWatch:
    """What the parent makes of the keeper's events and exits (no I/O, time passed in).

    A plain class, not a dataclass: ``dataclasses`` pulls in ``inspect``, megabytes the idle
    parent would carry for nothing."""

    def __init__(self) -> None:
        self.external_ip: str | None = None
        self.backoff = RestartBackoff()
        self.stopping = False
        self._no_mapping: set[str] = set()

    def started(self, now: float) -> None:
        self.backoff.started(now)
        self.stopping = False

    def handle(self, event: dict[str, Any]) -> tuple[bool, tuple[int, str] | None]:
        """(run an update cycle soon?, the log line) for one event."""
        kind = event["kind"]
        what = _what(event)
        detail = str(event.get("detail", ""))
        address = event.get("external_ip")
        if kind in ("started", "external-ip") and address:
            self.external_ip = str(address)
        line: tuple[int, str] | None
        if kind == "created":
            lease = (event.get("mapping") or {}).get("lease")
            line = (logging.INFO, f"{what} created (lease {lease} s)")
        elif kind == "renewed":
            line = (logging.DEBUG, f"{what} renewed")
        elif kind == "recreated":
            line = (logging.WARNING, f"{what} was gone from the router; created again")
        elif kind == "router-reboot":
            line = (logging.WARNING, f"the router lost its mappings (rebooted?), seen by {detail}")
        elif kind == "external-ip":
            line = (logging.INFO, f"the router's external address is now {address} (was {detail})")
        elif kind == "no-mapping-possible":
            key = json.dumps(event.get("spec"), sort_keys=True)
            if key in self._no_mapping:
                return False, None  # said once; a restarted keeper must not repeat it
            self._no_mapping.add(key)
            line = (logging.ERROR, f"{what}: not possible, not retried: {detail}")
        elif kind == "failed":
            line = (logging.WARNING, f"{what}: {detail}")
        elif kind == "removed":
            line = (logging.INFO, f"{what} removed from the router")
        elif kind == "started":
            line = (logging.DEBUG, f"mapping keeper running; router's external address {address}")
        else:
            line = None
        return kind in TRIGGERS and not self.stopping, line

    def exited(self, now: float, code: int | None) -> tuple[float, str]:
        """The keeper died: when to start it again (monotonic), and what to log."""
        delay = self.backoff.exited(now)
        self.external_ip = None  # nobody keeps it current now
        how = "was killed" if code is None or code < 0 else f"exited with status {code}"
        return now + delay, f"mapping keeper {how}; starting it again in {delay:.0f} s"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this same homeport: an installed package is found anyway, a source
    # checkout run with PYTHONPATH=src keeps it, and one put on sys.path by hand needs it added.
    import site

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.dirname(root)
    if root not in (*site.getsitepackages(), site.getusersitepackages()):
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if root not in paths:
            env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    if log.isEnabledFor(logging.DEBUG):
        env["HOMEPORT_VERBOSE"] = "1"
    return env


class KeeperChild:
    """One running keeper process: ``fd`` is its event pipe, for the parent's selector.

    ``module``: the child's ``-m`` module; the tunnel process (homeport.agent.tunnel_process)
    runs the same way, and is told the keeper's events through :meth:`send`."""

    def __init__(
        self, plan_text: str, module: str = "homeport.agent.mapping_keeper_process"
    ) -> None:
        self.plan = plan_text
        events_r, events_w = os.pipe()
        life_r, life_w = os.pipe()
        try:
            self.pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-m", module, plan_text],
                _child_env(),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, life_r, 0),
                    (os.POSIX_SPAWN_DUP2, events_w, 1),
                ],
                # Its own group: the terminal's ^C reaches the parent, which stops it in order.
                setpgroup=0,
                setsigdef=(signal.SIGTERM, signal.SIGINT, signal.SIGHUP),
            )
        except OSError:
            for fd in (events_r, events_w, life_r, life_w):
                os.close(fd)
            raise
        os.close(events_w)
        os.close(life_r)
        os.set_blocking(events_r, False)
        os.set_blocking(life_w, False)
        self.fd = events_r
        self._lifeline = life_w  # closed when we die, however we die: the child stops then
        self._buffer = b""
        self.returncode: int | None = None
        self.closed = False

    def send(self, event: dict[str, Any]) -> None:
        """One JSON line on the child's stdin; dropped if the child is not reading (each
        line says the whole current fact, so a later one makes up for it)."""
        if self.closed:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._lifeline, (json.dumps(event) + "\n").encode())

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """The events waiting in the pipe, and whether it reached EOF (the child exited)."""
        chunks = []
        eof = False
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
        events, self._buffer = split_lines(self._buffer + b"".join(chunks))
        return events, eof

    def reap(self) -> int | None:
        """Wait for the exited child; its exit status (negative: killed by that signal)."""
        if not self.closed:
            os.close(self.fd)
            os.close(self._lifeline)
            self.closed = True
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def stop(self, limit: float = STOP_LIMIT) -> list[dict[str, Any]]:
        """SIGTERM, then read its last events (the removals) until it exits; SIGKILL after
        ``limit`` seconds. Returns the events read."""
        seen: list[dict[str, Any]] = []
        if self.closed:
            return seen
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + limit
        with selectors.DefaultSelector() as waiter:
            waiter.register(self.fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.error("mapping keeper did not stop in %.0f s; killing it", limit)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.pid, signal.SIGKILL)
                    break
                waiter.select(left)
                events, eof = self.read()
                seen += events
                if eof:
                    break
        self.reap()
        return seen
