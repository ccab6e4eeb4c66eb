"""Optional local HTTP endpoint: Prometheus ``/metrics`` and a JSON ``/status``.

Imported only when ``[metrics]`` is configured, since aiohttp costs ~20 MB of
the agent's memory budget. It runs in a thread of the daemon's parent process
with its own event loop, reading the state file and the last cycle's summary.
The exposition text is written by hand (a dozen lines of the Prometheus text
format) rather than through prometheus-client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from homeport.agent.statefile import StateFile
from homeport.core import hoststate

if TYPE_CHECKING:
    from homeport.agent.supervisor import Supervisor

log = logging.getLogger("homeport.agent")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, help_text: str, rows: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in rows:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {value:g}")
    return lines


def render_metrics(states: Mapping[str, hoststate.HostState], verdicts: Mapping[str, Any]) -> str:
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
    return "\n".join(lines) + "\n"


def status_document(
    states: Mapping[str, hoststate.HostState], verdicts: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "time": int(time.time()),
        "detection": {f"ipv{f}": v for f, v in sorted(verdicts.items())},
        "hosts": {n: hoststate.to_json(s) for n, s in sorted(states.items())},
    }


class MetricsThread:
    """Serve /metrics and /status on ``listen`` ("127.0.0.1:9475", "[::1]:9475")."""

    def __init__(self, supervisor: Supervisor, listen: str) -> None:
        self.supervisor = supervisor
        self.store = StateFile(Path(supervisor.summary.get("state_dir", ".")))
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        host, _, port = listen.rpartition(":")
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._main, args=(host.strip("[]"), int(port), started), daemon=True
        )
        self.thread.start()
        started.wait(10)

    def _views(self) -> tuple[Mapping[str, hoststate.HostState], Mapping[str, Any]]:
        verdicts = self.supervisor.summary.get("verdicts", {})
        return self.store.load(), verdicts if isinstance(verdicts, dict) else {}

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
        self.loop.run_forever()

    def stop(self) -> None:
        async def shutdown() -> None:
            if self.runner is not None:
                await self.runner.cleanup()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()
