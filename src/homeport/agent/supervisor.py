"""The long-running agent: a small parent that runs each cycle in a child process.

Why a child per cycle: the idle agent's resident memory is a benchmark
(<= 2x ddclient's, bench/agent_footprint.py), and one cycle needs pydantic, asyncio and ssl
(~25 MB together, never returned to the OS once loaded). The parent imports
none of them: it keeps the config text, waits with ``selectors`` on a signal
pipe and the netlink socket, and forks a child for each cycle. The child
validates the config, runs :meth:`Agent.cycle`, writes a JSON summary back on
a pipe and exits. State lives in the state file, so nothing is lost between
children; a crash in one cycle cannot take the daemon down.

Port mappings: with ``[[mapping]]`` entries, one more child lives as long as
the daemon, the mapping keeper (:mod:`homeport.agent.mapping_keeper_process`). It writes
its events as JSON lines to a pipe watched here; a router event that may have
moved the public address (GENA ExternalIPAddress, a reboot) runs a cycle soon,
debounced like a netlink event. A keeper that dies is started again with
backoff; the first cycle's child hands over the validated mapping plan.

Metrics: with ``[metrics]``, a thread of this parent serves them
(:mod:`homeport.agent.metrics`); the cycle's summary tells it how to run
``homeport doctor`` for ``[metrics] doctor`` (:func:`_doctor_settings`).

Signals: SIGTERM/SIGINT stop after the running cycle (the keeper first, which
removes its mappings unless ``keep``); SIGHUP re-reads the config file and runs
a cycle with it at once — if that config is invalid, the problems are logged and
the previous text is kept; a changed mapping plan restarts the keeper.
sd_notify: READY=1 after the first cycle, STATUS= after each, WATCHDOG=1 while
waiting.

Timers: when the next cycle is due, when an event's cycle may run, when a dead keeper
starts again and how long to wait are decided by :mod:`homeport.core.agent_schedule`
(time passed in, tested without sleeping); this module reads the clock and applies them.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from homeport.agent import mapping_keeper_control
from homeport.core import agent_schedule as sched
from homeport.core.agent_schedule import RestartBackoff
from homeport.errors import EXIT_CONFIG, ConfigError
from homeport.io import netlink, sdnotify
from homeport.proto import rtnetlink

log = logging.getLogger("homeport.agent")

# A cycle is a few requests with per-request timeouts; a child running far longer is stuck.
CYCLE_LIMIT = 300.0
MAPPING_REPORTS = frozenset({"created", "renewed", "recreated", "failed", "no-mapping-possible"})
# A router event names the new address itself, and a final local address (IPv4, IPv6 past
# DAD) is complete when announced: the settle only merges the burst one change makes (GENA
# NOTIFY plus NAT-PMP/PCP announcements; a DHCP lease's del+add), all within milliseconds.
EVENT_SETTLE = 0.25


def child_cycle(
    text: str, origin: str, ddclient: bool | None, state_dir: Path | None, first: bool
) -> dict[str, Any]:
    """Run in the child: load the config from ``text``, run one cycle, summarise it."""
    import asyncio

    from homeport.agent import config as config_mod
    from homeport.agent.daemon import Agent, status_line

    try:
        cfg = config_mod.load(origin, ddclient=ddclient, text=text)
    except ConfigError as exc:
        return {"config_error": list(exc.problems)}
    if first:
        for warning in cfg.warnings:
            log.warning("%s", warning)
    from homeport.agent.files import default_state_dir

    if state_dir is None:  # no --state-dir: the config's, else the default
        state_dir = Path(cfg.agent.state_dir) if cfg.agent.state_dir else default_state_dir()
    agent = Agent(cfg, state_dir)
    report = asyncio.run(agent.cycle())
    doctor = _doctor_settings(cfg, origin, ddclient, warn=first)
    return {
        **_tunnel_plan(cfg, origin, state_dir),
        "interval": cfg.agent.interval,
        "debounce": cfg.agent.debounce,
        "event_gap": cfg.agent.event_gap,
        "netlink": cfg.agent.netlink,
        "metrics": cfg.metrics.listen if cfg.metrics else None,
        "doctor": doctor,
        "next_due": agent.next_due(),
        "keeper": mapping_keeper_control.plan(cfg.mappings) if cfg.mappings else None,
        "state_dir": str(state_dir),
        "status": status_line(report),
        "verdicts": {
            str(f): {"address": str(v.address) if v.address else None, "reason": v.reason}
            for f, v in report.verdicts.items()
        },
    }


def _tunnel_plan(cfg: Any, origin: str, state_dir: Path) -> dict[str, Any]:
    """The tunnel process's argument (no secret: argv is public) and a digest of every
    [[tunnel]] setting, secrets included, that the parent compares on reload and never
    shows: a changed secret must restart a tunnel stopped by badauth."""
    if not cfg.tunnels:
        return {"tunnels": None, "tunnels_digest": None}
    import dataclasses
    import hashlib

    plan = json.dumps({"config": os.path.abspath(origin), "state_dir": str(state_dir)})
    blob = json.dumps([dataclasses.astuple(t) for t in cfg.tunnels], default=str)
    digest = hashlib.sha256(b"homeport-tunnels-v1\0" + blob.encode()).hexdigest()
    return {"tunnels": plan, "tunnels_digest": digest}


def _doctor_settings(cfg: Any, origin: str, ddclient: bool | None, *, warn: bool) -> Any:
    """How the metrics thread runs ``homeport doctor`` (None: it does not).

    ``router``: a config without ``[[mapping]]`` expects no router to map anything,
    so the doctor skips the router hop (``--no-router``) rather than ask the gateway.
    """
    if cfg.metrics is None or not cfg.metrics.doctor:
        return None
    # `homeport doctor --config` reads a file not named *.toml as ddclient.conf.
    if ddclient or not origin.endswith(".toml"):
        if warn:
            log.warning(
                "%s: [metrics] doctor is not run: `homeport doctor --config` needs the TOML "
                "config in a file named *.toml",
                origin,
            )
        return None
    return {
        "interval": cfg.metrics.doctor,
        "dns": cfg.metrics.doctor_dns,
        "router": bool(cfg.mappings),
    }


def _kill_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass  # it exited meanwhile
    except PermissionError:  # the group is not set up yet: the child alone
        os.kill(pid, signum)


class Supervisor:
    def __init__(self, origin: str, ddclient: bool | None, state_dir: Path | None) -> None:
        self.origin = origin
        self.ddclient = ddclient
        self.state_dir = state_dir
        self.text = ""
        self.summary: dict[str, Any] = {}
        self._signals: list[int] = []
        self._selector = selectors.DefaultSelector()
        self._watchdog = sdnotify.watchdog_interval()
        # Every timer (next cycle, an event's cycle, the keeper's restart) and what is due.
        self.schedule = sched.AgentSchedule(next_cycle=time.monotonic())
        self.keeper: mapping_keeper_control.KeeperChild | None = None
        self.keeper_watch = mapping_keeper_control.KeeperWatch()
        # Set once the keeper has first reported on its mappings (made, or why not): the
        # metrics thread's first doctor run waits for it rather than report "no mapping".
        self.mappings_reported = threading.Event()
        self._keeper_plan: str | None = None
        # The tunnel process ([[tunnel]]): started like the keeper, told the keeper's events
        # and the public address (mode=auto); what it was last told, for a restarted one.
        self.tunnel: mapping_keeper_control.KeeperChild | None = None
        self._tunnel_plan: str | None = None
        self._tunnel_digest: str | None = None
        self._tunnel_backoff = RestartBackoff()
        self._tunnel_restart_at: float | None = None
        self._tunnel_facts: dict[str, dict[str, Any]] = {}

    # --- children -----------------------------------------------------------------

    def _fork_cycle(self, text: str, first: bool) -> dict[str, Any]:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            os.setpgid(0, 0)  # its own group, so stopping it also stops the commands it runs
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            code = 0
            try:
                summary = child_cycle(text, self.origin, self.ddclient, self.state_dir, first)
            except BaseException:
                log.exception("cycle failed")
                summary, code = {"crashed": True}, 70
            try:
                os.write(write_fd, json.dumps(summary).encode())
            finally:
                os._exit(code)
        os.close(write_fd)
        return self._collect(pid, read_fd)

    def _collect(self, pid: int, read_fd: int) -> dict[str, Any]:
        data = b""
        deadline = time.monotonic() + CYCLE_LIMIT
        stopped = False
        with selectors.DefaultSelector() as waiter:
            waiter.register(read_fd, selectors.EVENT_READ)
            while True:
                if time.monotonic() > deadline:
                    log.error("cycle still running after %.0f s; killing it", CYCLE_LIMIT)
                    _kill_group(pid, signal.SIGKILL)
                    break
                stopping = {signal.SIGTERM, signal.SIGINT} & set(self._signals)
                if stopping and not stopped:
                    # Stop now, not after the cycle: the state file is replaced atomically.
                    _kill_group(pid, signal.SIGTERM)
                    stopped = True
                if not waiter.select(timeout=1.0):
                    if self._watchdog:  # a slow cycle is not a hung daemon
                        sdnotify.notify("WATCHDOG=1")
                    continue
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                data += chunk
        os.close(read_fd)
        os.waitpid(pid, 0)
        try:
            result = json.loads(data) if data else {"crashed": True}
        except ValueError:
            result = {"crashed": True}
        return result if isinstance(result, dict) else {"crashed": True}

    # --- the loop -----------------------------------------------------------------

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)

    def run(self) -> int:
        from homeport.agent.files import read_text

        self.text = read_text(self.origin)
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self._selector.register(read_fd, selectors.EVENT_READ, "signal")
        summary = self._fork_cycle(self.text, first=True)
        if "config_error" in summary:
            for problem in summary["config_error"]:
                sys.stderr.write(f"homeport: error: {problem}\n")
            return EXIT_CONFIG
        if {signal.SIGTERM, signal.SIGINT} & set(self._signals):
            log.info("stopped")
            return 0
        if "interval" not in summary:
            log.error("the first cycle failed; see above")
            return 70
        self.summary = summary
        sock = netlink.open_socket() if summary.get("netlink") else None
        if sock is not None:
            self._selector.register(sock, selectors.EVENT_READ, "netlink")
        metrics = self._start_metrics(summary.get("metrics"))
        sdnotify.notify("READY=1", f"STATUS={summary.get('status', '')}")
        try:
            self._set_keeper_plan(summary.get("keeper"))
            self._set_tunnel_plan(summary)
            self._loop(read_fd, self._watchdog)
        finally:
            sdnotify.notify("STOPPING=1")
            self._stop_tunnel()
            self._stop_keeper()
            if sock is not None:
                sock.close()
            if metrics is not None:
                metrics.stop()
            log.info("stopped")
        return 0

    def _cycle_ran(self) -> None:
        next_due = self.summary.get("next_due")
        self.schedule.cycle_ran(
            time.monotonic(),
            time.time(),
            float(self.summary.get("interval", sched.DEFAULT_INTERVAL)),
            float(next_due) if isinstance(next_due, int | float) else None,
        )

    def _soon(self, why: str, settle: float | None = None) -> None:
        """Run a cycle after ``settle`` (the debounce by default), once per burst of events."""
        debounce = float(self.summary.get("debounce", sched.DEFAULT_DEBOUNCE))
        gap = float(self.summary.get("event_gap", sched.DEFAULT_EVENT_GAP))
        wait = debounce if settle is None else settle
        if self.schedule.event(time.monotonic(), wait, gap):
            log.info("%s: looking again shortly", why)

    def _loop(self, signal_fd: int, watchdog: float | None) -> None:
        self._cycle_ran()
        while True:
            timeout = self.schedule.timeout(time.monotonic(), watchdog)
            if self._tunnel_restart_at is not None:
                timeout = min(timeout, max(0.0, self._tunnel_restart_at - time.monotonic()))
            if watchdog:
                sdnotify.notify("WATCHDOG=1")
            for key, _ in self._selector.select(timeout):
                if key.data == "signal":
                    os.read(signal_fd, 512)
                elif key.data == "keeper":
                    self._keeper_events()
                elif key.data == "tunnel":
                    self._tunnel_events()
                else:
                    events = netlink.drain(key.fileobj)  # type: ignore[arg-type]
                    if events:
                        # A final address (IPv4, IPv6 past DAD) is looked at at once; a
                        # tentative one waits the debounce (RFC 4862 §5.4: DAD takes ~1 s).
                        settle = EVENT_SETTLE if rtnetlink.settled(events) else None
                        self._soon("local address change", settle)
            if self.schedule.restart_due(time.monotonic()):
                self._start_keeper()
            if self._tunnel_restart_at is not None and time.monotonic() >= self._tunnel_restart_at:
                self._tunnel_restart_at = None
                self._start_tunnel()
            reload = False
            while self._signals:
                signum = self._signals.pop(0)
                if signum in (signal.SIGTERM, signal.SIGINT):
                    return
                reload = True
            if reload:
                self._reload()
            elif self.schedule.due(time.monotonic()) is not None:
                self._cycle(self.text)
            else:
                continue
            self._cycle_ran()

    def _cycle(self, text: str) -> bool:
        summary = self._fork_cycle(text, first=False)
        if "config_error" in summary or "interval" not in summary:
            return False
        self.summary = summary
        sdnotify.notify(f"STATUS={summary.get('status', '')}")
        self._tell_public()
        return True

    def _reload(self) -> None:
        from homeport.agent.files import read_text

        try:
            text = read_text(self.origin)
        except ConfigError as exc:
            log.error("reload: %s; keeping the running config", exc)
            return
        summary = self._fork_cycle(text, first=True)
        if "config_error" in summary:
            for problem in summary["config_error"]:
                log.error("reload: %s", problem)
            log.error("reload failed; keeping the running config")
            return
        log.info("config reloaded from %s", self.origin)
        self.text = text
        if "interval" in summary:
            self.summary = summary
            self._set_keeper_plan(summary.get("keeper"))
            self._set_tunnel_plan(summary)

    # --- the mapping keeper ---------------------------------------------------------

    def _set_keeper_plan(self, plan: str | None) -> None:
        """Run the keeper for ``plan`` (None: no mappings): started, restarted or stopped."""
        if plan == self._keeper_plan:
            return
        if self._keeper_plan is not None:
            log.info("[[mapping]] changed: restarting the mapping keeper")
        self._stop_keeper()
        self._keeper_plan = plan
        self.keeper_watch = mapping_keeper_control.KeeperWatch()
        if plan is not None:
            self._start_keeper()

    def _start_keeper(self) -> None:
        assert self._keeper_plan is not None
        try:
            self.keeper = mapping_keeper_control.KeeperChild(self._keeper_plan)
        except OSError as exc:
            when, _ = self.keeper_watch.exited(time.monotonic(), None)
            log.error("cannot start the mapping keeper: %s", exc)
            self.schedule.restart_child_at(when)
            return
        self.keeper_watch.started(time.monotonic())
        log.debug("mapping keeper started (pid %d)", self.keeper.pid)
        self._selector.register(self.keeper.fd, selectors.EVENT_READ, "keeper")

    def _stop_keeper(self) -> None:
        self.schedule.child_stopped()
        keeper, self.keeper = self.keeper, None
        if keeper is None:
            return
        self.keeper_watch.stopping = True
        if not keeper.closed:
            self._selector.unregister(keeper.fd)
        for event in keeper.stop():
            self._note_keeper_event(event)
        mapping_keeper_control.set_known_external_ip(None)

    def _note_keeper_event(self, event: dict[str, Any]) -> bool:
        if event.get("kind") in MAPPING_REPORTS:
            self.mappings_reported.set()
        self._tell_tunnels(event)
        trigger, line = self.keeper_watch.handle(event)
        if line is not None:
            log.log(*line)
        mapping_keeper_control.set_known_external_ip(self.keeper_watch.external_ip)
        return trigger

    def _keeper_events(self) -> None:
        keeper = self.keeper
        if keeper is None:
            return
        events, eof = keeper.read()
        for event in events:
            if self._note_keeper_event(event):
                self._soon(f"router event ({event['kind']})", EVENT_SETTLE)
        if eof:
            self._selector.unregister(keeper.fd)
            code = keeper.reap()
            self.keeper = None
            when, line = self.keeper_watch.exited(time.monotonic(), code)
            self.schedule.restart_child_at(when)
            mapping_keeper_control.set_known_external_ip(None)
            log.error("%s", line)

    # --- the tunnel process -------------------------------------------------------------

    def _set_tunnel_plan(self, summary: dict[str, Any]) -> None:
        """Run the tunnel process for the summary's [[tunnel]] entries: started, restarted
        when any of their settings changed (a fixed secret), or stopped."""
        plan, digest = summary.get("tunnels"), summary.get("tunnels_digest")
        if (plan, digest) == (self._tunnel_plan, self._tunnel_digest):
            return
        if self._tunnel_plan is not None:
            log.info("[[tunnel]] changed: restarting the tunnels")
        self._stop_tunnel()
        self._tunnel_plan, self._tunnel_digest = plan, digest
        self._tunnel_backoff = RestartBackoff()
        if plan is not None:
            self._tell_public()
            self._start_tunnel()

    def _start_tunnel(self) -> None:
        if self._tunnel_plan is None:
            return
        try:
            self.tunnel = mapping_keeper_control.KeeperChild(
                self._tunnel_plan, module="homeport.agent.tunnel_process"
            )
        except OSError as exc:
            log.error("cannot start the tunnels: %s", exc)
            self._tunnel_restart_at = time.monotonic() + self._tunnel_backoff.exited(
                time.monotonic()
            )
            return
        self._tunnel_backoff.started(time.monotonic())
        self._selector.register(self.tunnel.fd, selectors.EVENT_READ, "tunnel")
        for fact in self._tunnel_facts.values():
            self.tunnel.send(fact)

    def _stop_tunnel(self) -> None:
        self._tunnel_restart_at = None
        child, self.tunnel = self.tunnel, None
        if child is None:
            return
        if not child.closed:
            self._selector.unregister(child.fd)
        child.stop()

    def _tunnel_events(self) -> None:
        child = self.tunnel
        if child is None:
            return
        _, eof = child.read()  # it logs for itself; the pipe only tells us it ended
        if not eof:
            return
        self._selector.unregister(child.fd)
        code = child.reap()
        self.tunnel = None
        delay = self._tunnel_backoff.exited(time.monotonic())
        self._tunnel_restart_at = time.monotonic() + delay
        how = "was killed" if code is None or code < 0 else f"exited with status {code}"
        log.error("the tunnel process %s; starting it again in %.0f s", how, delay)

    def _tell_tunnels(self, event: dict[str, Any]) -> None:
        """Remember a fact for mode=auto (the last word per port, the router's address)
        and pass it on to the tunnel process."""
        kind = event.get("kind")
        spec = event.get("spec") if isinstance(event.get("spec"), dict) else None
        if kind == "public":
            self._tunnel_facts["public"] = event
        elif event.get("external_ip"):
            self._tunnel_facts["external"] = {
                "kind": "external",
                "external_ip": event["external_ip"],
            }
        if spec is not None and kind in MAPPING_REPORTS:
            self._tunnel_facts[f"mapping {spec.get('internal_port')}"] = event
        if self.tunnel is not None:
            self.tunnel.send(event)

    def _tell_public(self) -> None:
        verdicts = self.summary.get("verdicts")
        v4 = verdicts.get("4") if isinstance(verdicts, dict) else None
        address = v4.get("address") if isinstance(v4, dict) else None
        if address:
            self._tell_tunnels({"kind": "public", "ipv4": address})

    def _start_metrics(self, listen: str | None) -> Any:
        if not listen:
            return None
        from homeport.agent.metrics import MetricsThread

        return MetricsThread(self, listen)
