"""Optional local HTTP endpoint: Prometheus ``/metrics`` and a JSON ``/status``.

Imported only when ``[metrics]`` is configured, since aiohttp costs ~20 MB of
the agent's memory budget. The exposition text is written by hand (a dozen
lines of the Prometheus text format) rather than through prometheus-client.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from homeport.core import hoststate
from homeport.errors import ConfigError

if TYPE_CHECKING:
    from homeport.agent.daemon import Agent


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, help_text: str, rows: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in rows:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {value:g}")
    return lines


def render_metrics(agent: Agent) -> str:
    states = sorted(agent.states.items())
    published = [
        ({"host": n, "family": f}, fam.confirmed_at)
        for n, s in states
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
        [({"host": n, "code": s.disabled_code}, float(bool(s.disabled_code))) for n, s in states],
    )
    lines += _family(
        "homeport_host_failures",
        "Consecutive transient failures of the host's updates.",
        [({"host": n}, float(s.failures)) for n, s in states],
    )
    report = agent.last_report
    verdicts = sorted(report.verdicts.items()) if report is not None else []
    lines += _family(
        "homeport_public_address_known",
        "1 if the sources agreed on the family's public address.",
        [({"family": str(f)}, float(v.address is not None)) for f, v in verdicts],
    )
    return "\n".join(lines) + "\n"


def status_document(agent: Agent) -> dict[str, Any]:
    report = agent.last_report
    verdicts: dict[str, Any] = {}
    if report is not None:
        verdicts = {
            f"ipv{f}": {
                "address": str(v.address) if v.address else None,
                "reason": v.reason,
                "answers": [
                    {
                        "source": a.source,
                        "address": str(a.address) if a.address else None,
                        "error": a.error,
                    }
                    for a in v.answers
                ],
            }
            for f, v in sorted(report.verdicts.items())
        }
    return {
        "time": int(time.time()),
        "detection": verdicts,
        "hosts": {n: hoststate.to_json(s) for n, s in sorted(agent.states.items())},
    }


async def start(agent: Agent, listen: str) -> web.AppRunner:
    """Serve /metrics and /status on ``listen`` ("127.0.0.1:9475", "[::1]:9475")."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=render_metrics(agent), content_type="text/plain", charset="utf-8")

    async def status(request: web.Request) -> web.Response:
        return web.Response(
            text=json.dumps(status_document(agent)), content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, int(port)).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"metrics: cannot listen on {listen}: {exc.strerror or exc}") from exc
    return runner
