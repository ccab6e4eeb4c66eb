"""Optional local HTTP endpoint: Prometheus ``/metrics`` and a JSON ``/status``.

Imported only when ``[metrics]`` is configured, since aiohttp costs ~20 MB of
the agent's memory budget. It runs in a thread of the daemon's parent process
with its own event loop, reading the state file and the last cycle's summary.
The exposition text is written by hand (a dozen lines of the Prometheus text
format) rather than through prometheus-client.

With ``[metrics] doctor``, the thread also runs ``homeport doctor --config FILE
--json`` every ``doctor`` interval, the first right away (the thread starts after
the daemon's first cycle), as a child process: the doctor's modules (dnspython,
pyroute2, rich) never load into the lean parent. Its verdicts become
``homeport_doctor_*`` gauges and the ``"doctor"`` part of ``/status``; a run that
fails keeps the last report (its timestamp says how old it is) and logs one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from homeport.agent.statefile import StateFile, read_tunnels
from homeport.core import hoststate

if TYPE_CHECKING:
    from homeport.agent.supervisor import Supervisor

log = logging.getLogger("homeport.agent")

# homeport_doctor_verdict values: ok, warn and fail as the doctor's exit codes (so a check
# compares with homeport_doctor_worst), and -1 for a check that did not run.
DOCTOR_VERDICT_VALUES = {"ok": 0.0, "warn": 1.0, "fail": 2.0, "skipped": -1.0}
# Two checks under one (hop, subject), e.g. two names on one port, show the worse:
# the doctor's own order (homeport.core.doctor.Verdict).
_SEVERITY = {"ok": 0, "skipped": 1, "warn": 2, "fail": 3}
# The doctor's exit codes that come with a JSON report (0 ok, 1 warn, 2 fail); any
# other status is a doctor that could not run (a bad config, a crash).
DOCTOR_REPORT_CODES = (0, 1, 2)
# A doctor run waits at most 5 s per network step (doctor.run.DEFAULT_WAIT), a
# handful of steps per port: one still running after two minutes is stuck.
DOCTOR_LIMIT = 120.0
# With [metrics] doctor off (or a long interval), look this often whether a reload
# (SIGHUP) turned it on or shortened it.
DOCTOR_RECHECK = 60.0
# The first doctor run of a daemon with [[mapping]] waits for the keeper's first report
# (a UPnP/PCP round trip, a second or two) but not forever: a dead router is a verdict too.
MAPPING_WAIT = 30.0
# At most this much of the doctor's stderr goes to the log: one error line, not a dump.
MAX_LOG_LINE = 200


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, help_text: str, rows: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in rows:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")
    return lines


def _number(value: float) -> str:
    # Not "%g": its six digits would round a Unix timestamp to the nearest 1000 s.
    return str(int(value)) if value.is_integer() else repr(value)


def render_metrics(
    states: Mapping[str, hoststate.HostState],
    verdicts: Mapping[str, Any],
    doctor: Mapping[str, Any] | None = None,
    tunnels: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The Prometheus text; ``doctor``: the last doctor report (see :func:`doctor_report`);
    ``tunnels``: the tunnel process's report (statefile.read_tunnels)."""
    rows = sorted(states.items())
    published = [
        ({"host": n, "family": f}, fam.confirmed_at)
        for n, s in rows
        for f, fam in (("4", s.ipv4), ("6", s.ipv6))
        if fam.confirmed_at is not None
    ]
    lines = _family(
        "homeport_host_published_timestamp_seconds",
        "When the provider last confirmed the host's address.",
        published,
    )
    lines += _family(
        "homeport_host_stopped",
        "1 if a fatal provider code stopped the host until its config changes.",
        [({"host": n, "code": s.disabled_code}, float(bool(s.disabled_code))) for n, s in rows],
    )
    lines += _family(
        "homeport_host_failures",
        "Consecutive transient failures of the host's updates.",
        [({"host": n}, float(s.failures)) for n, s in rows],
    )
    lines += _family(
        "homeport_public_address_known",
        "1 if the sources agreed on the family's public address.",
        [({"family": f}, float(bool(v.get("address")))) for f, v in sorted(verdicts.items())],
    )
    if tunnels:
        lines += _family(
            "homeport_tunnel_up",
            "1 while the tunnel's relay session is up (0: connecting, down, stopped, direct).",
            [
                (
                    {
                        "host": str(t.get("host")),
                        "kind": str(t.get("kind")),
                        "port": str(t.get("port")),
                    },
                    float(t.get("state") == "up"),
                )
                for t in tunnels
            ],
        )
    if doctor is not None and "checks" in doctor:
        lines += _doctor_lines(doctor)
    return "\n".join(lines) + "\n"


def _doctor_lines(report: Mapping[str, Any]) -> list[str]:
    worst: dict[tuple[str, str], str] = {}
    for check in report["checks"]:
        verdict = check.get("verdict")
        if verdict not in DOCTOR_VERDICT_VALUES:
            continue
        key = (str(check.get("hop", "")), str(check.get("subject", "")))
        if key not in worst or _SEVERITY[verdict] > _SEVERITY[worst[key]]:
            worst[key] = verdict
    lines = _family(
        "homeport_doctor_verdict",
        "The doctor's verdict per hop: 0 ok, 1 warn, 2 fail, -1 skipped.",
        [
            ({"hop": hop, "subject": subject}, DOCTOR_VERDICT_VALUES[verdict])
            for (hop, subject), verdict in sorted(worst.items())
        ],
    )
    lines += _family(
        "homeport_doctor_worst",
        "The doctor's exit code: its worst verdict (0 ok or skipped, 1 warn, 2 fail).",
        [({}, float(report["exit_code"]))],
    )
    lines += _family(
        "homeport_doctor_last_run_timestamp_seconds",
        "When the doctor's last report was made.",
        [({}, float(report["time"]))],
    )
    return lines


def status_document(
    states: Mapping[str, hoststate.HostState],
    verdicts: Mapping[str, Any],
    doctor: Mapping[str, Any] | None = None,
    tunnels: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "time": int(time.time()),
        "detection": {f"ipv{f}": v for f, v in sorted(verdicts.items())},
        "hosts": {n: hoststate.to_json(s) for n, s in sorted(states.items())},
        "doctor": dict(doctor) if doctor is not None else None,
        "tunnels": [dict(t) for t in tunnels],
    }


def doctor_command(origin: str, settings: Mapping[str, Any]) -> list[str]:
    """``homeport doctor`` on the agent's config, as the daemon runs it."""
    command = [sys.executable, "-m", "homeport", "doctor", "--config", origin, "--json"]
    if not settings.get("router"):
        command.append("--no-router")
    if settings.get("dns"):
        command += ["--dns", str(settings["dns"])]
    return command


def doctor_report(stdout: bytes, returncode: int, now: float) -> dict[str, Any]:
    """The doctor's JSON with when it was made and its exit code; ValueError if it is none."""
    if returncode not in DOCTOR_REPORT_CODES:
        raise ValueError(f"exited with status {returncode}")
    try:
        data = json.loads(stdout)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        raise ValueError("printed no report")
    return {"time": int(now), "exit_code": returncode, **data}


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    text = next((line for line in reversed(lines) if line), "")
    return text[:MAX_LOG_LINE]


async def run_doctor(command: list[str], limit: float = DOCTOR_LIMIT) -> dict[str, Any]:
    """Run the doctor as a child; its report, or ValueError with one line saying why not."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own group: stopping it stops what it started
        )
    except OSError as exc:
        raise ValueError(f"cannot start: {exc.strerror or exc}") from None
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), limit)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise ValueError(f"still running after {limit:.0f} s; killed") from None
    assert proc.returncode is not None
    try:
        return doctor_report(stdout, proc.returncode, time.time())
    except ValueError as exc:
        why = _last_line(stderr)
        raise ValueError(f"{exc}: {why}" if why else str(exc)) from None


class MetricsThread:
    """Serve /metrics and /status on ``listen`` ("127.0.0.1:9475", "[::1]:9475")."""

    def __init__(self, supervisor: Supervisor, listen: str) -> None:
        self.supervisor = supervisor
        self.store = StateFile(Path(supervisor.summary.get("state_dir", ".")))
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.doctor: dict[str, Any] | None = None  # the last report
        self.doctor_error: str | None = None  # why the last run gave none
        self._doctor_task: asyncio.Task[None] | None = None
        host, _, port = listen.rpartition(":")
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._main, args=(host.strip("[]"), int(port), started), daemon=True
        )
        self.thread.start()
        started.wait(10)

    def _views(
        self,
    ) -> tuple[
        Mapping[str, hoststate.HostState],
        Mapping[str, Any],
        Mapping[str, Any] | None,
        Sequence[Mapping[str, Any]],
    ]:
        verdicts = self.supervisor.summary.get("verdicts", {})
        doctor = self.doctor
        if self.doctor_error is not None:
            doctor = {**(doctor or {}), "error": self.doctor_error}
        tunnels = read_tunnels(self.store.path.parent) if self.supervisor.tunnel else []
        return self.store.load(), verdicts if isinstance(verdicts, dict) else {}, doctor, tunnels

    def _doctor_settings(self) -> Mapping[str, Any] | None:
        settings = self.supervisor.summary.get("doctor")
        return settings if isinstance(settings, dict) and settings.get("interval") else None

    async def _doctor_loop(self) -> None:
        """Run the doctor every interval, the first at once (once the keeper has said how its
        mappings went); follow reloads."""
        finished: float | None = None
        while True:
            settings = self._doctor_settings()
            if settings is None:
                await asyncio.sleep(DOCTOR_RECHECK)
                continue
            due = (finished or 0.0) + float(settings["interval"])
            now = time.monotonic()
            if finished is not None and now < due:
                await asyncio.sleep(min(due - now, DOCTOR_RECHECK))
                continue
            if finished is None and settings.get("router"):
                # A threading.Event set by the parent's main thread; polled, since a waiting
                # executor thread would hold up the daemon's exit for MAPPING_WAIT.
                reported, deadline = self.supervisor.mappings_reported, now + MAPPING_WAIT
                while not reported.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
            await self._doctor_once(doctor_command(self.supervisor.origin, settings))
            finished = time.monotonic()

    async def _doctor_once(self, command: list[str]) -> None:
        try:
            report = await run_doctor(command)
        except ValueError as exc:
            self.doctor_error = str(exc)
            log.warning("metrics: homeport doctor: %s", exc)
            return
        before = self.doctor["verdict"] if self.doctor else None
        self.doctor, self.doctor_error = report, None
        level = logging.INFO if report["verdict"] != before else logging.DEBUG
        log.log(level, "metrics: homeport doctor: %s", report["verdict"])

    def _main(self, host: str, port: int, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def metrics(request: web.Request) -> web.Response:
            text = render_metrics(*self._views())
            return web.Response(text=text, content_type="text/plain", charset="utf-8")

        async def status(request: web.Request) -> web.Response:
            document = status_document(*self._views())
            return web.Response(text=json.dumps(document), content_type="application/json")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/status", status)
        self.runner = web.AppRunner(app, access_log=None)
        try:
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, host, port).start())
        except OSError as exc:
            log.error("metrics: cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
            started.set()
            return
        started.set()
        self._doctor_task = self.loop.create_task(self._doctor_loop())
        self.loop.run_forever()

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._doctor_task is not None:
                self._doctor_task.cancel()  # kills a running doctor child too
                with contextlib.suppress(asyncio.CancelledError):
                    await self._doctor_task
            if self.runner is not None:
                await self.runner.cleanup()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()
