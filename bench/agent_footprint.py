#!/usr/bin/env python3
"""Idle footprint of `homeport agent run` vs the real ddclient daemon, same hosts, same run.

Both read the same ddclient.conf (three hosts, dyndns2, use=web with web-skip), each
pointed at its own local checkip + counting dyndns2 test server on 127.0.0.1. After
both have sent their first update and settled, we sample resident memory (VmRSS)
and CPU time (utime+stime, plus waited-for children: homeport runs each cycle in
a child) over an idle window, and print both side by side with the ratio.

Then a simulated day with no IP change: the agent's own cycle code (daemon.Agent)
runs 24 h of polls with an injected clock (every request real, on loopback) and
we count what reached the servers: only checkip polls and the one first update.

Usage: /work/main/.venv/bin/python bench/agent_footprint.py [--window SECONDS] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.agent.servers import LocalServices, serve  # noqa: E402
from tests.helpers import homeport_env  # noqa: E402

HOSTS = "h1.example.org, h2.example.org, h3.example.org"
INTERVAL = 300  # ddclient's usual daemon period; both idle through the window
TICKS = os.sysconf("SC_CLK_TCK")


def conf(services: LocalServices) -> str:
    return f"""\
daemon={INTERVAL}
ssl=no
protocol=dyndns2
use=web, web=127.0.0.1:{services.port}/html, web-skip='IP Address'
server=127.0.0.1:{services.port}
login=bench
password='bench-password'
{HOSTS}
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime are fields 14-17 of stat(5); [0] here is field 3.
    return sum(int(x) for x in fields[11:15]) / TICKS


def homeport_command() -> list[str]:
    from homeport import providers

    if "dyndns2" in providers.names():
        return [sys.executable, "-m", "homeport"]
    # Before the providers branch is merged: the same CLI with the test stand-in provider,
    # installed only in the cycle's child, so the idle parent measured here is unchanged.
    return [sys.executable, "-m", "tests.agent.launch"]


def wait_for(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def measure(window: float, settle: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="hp-footprint-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with serve(LocalServices()) as dd_srv, serve(LocalServices()) as hp_srv:
            dd_conf = tmp / "ddclient.conf"
            dd_conf.write_text(conf(dd_srv))
            hp_conf = tmp / "homeport-ddclient.conf"
            hp_conf.write_text(conf(hp_srv))
            for path in (dd_conf, hp_conf):
                path.chmod(0o600)
            ddclient = subprocess.Popen(
                [
                    "ddclient",
                    "-daemon",
                    str(INTERVAL),
                    "-foreground",
                    "-file",
                    str(dd_conf),
                    "-cache",
                    str(tmp / "ddclient.cache"),
                    "-pid",
                    str(tmp / "ddclient.pid"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=tmp,
            )
            processes.append(ddclient)
            homeport = subprocess.Popen(
                [
                    *homeport_command(),
                    "agent",
                    "run",
                    "--ddclient-conf",
                    str(hp_conf),
                    "--state-dir",
                    str(tmp / "state"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
                env=homeport_env(),
            )
            processes.append(homeport)
            if not wait_for(lambda: dd_srv.updates and hp_srv.updates, 60):
                raise SystemExit(
                    f"no first update: ddclient {len(dd_srv.updates)},"
                    f" homeport {len(hp_srv.updates)}"
                )
            time.sleep(settle)
            start = {p.pid: cpu_seconds(p.pid) for p in processes}
            time.sleep(window)
            result = {
                "ddclient_rss": rss_kib(ddclient.pid) / 1024,
                "homeport_rss": rss_kib(homeport.pid) / 1024,
                "ddclient_cpu_idle": cpu_seconds(ddclient.pid) - start[ddclient.pid],
                "homeport_cpu_idle": cpu_seconds(homeport.pid) - start[homeport.pid],
                "ddclient_cpu_total": cpu_seconds(ddclient.pid),
                "homeport_cpu_total": cpu_seconds(homeport.pid),
                "ddclient_updates": len(dd_srv.updates),
                "homeport_updates": len(hp_srv.updates),
                "ddclient_checkips": dd_srv.checkips,
                "homeport_checkips": hp_srv.checkips,
            }
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(15)
            return result
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def simulated_day() -> dict[str, int]:
    """24 h of the agent's real cycle code with an injected clock; requests really sent."""
    from homeport.agent import ddclient_conf
    from homeport.agent.daemon import Agent

    tmp = Path(tempfile.mkdtemp(prefix="hp-day-"))
    try:
        with serve(LocalServices()) as srv:
            path = tmp / "ddclient.conf"
            path.write_text(conf(srv))
            path.chmod(0o600)
            cfg = ddclient_conf.load(path)
            clock = [1_700_000_000.0]
            agent = Agent(
                cfg, tmp / "state", clock=lambda: clock[0], jitter=lambda: 0.5, emit=lambda s: None
            )
            end = clock[0] + 86400
            cycles = 0

            async def day() -> None:
                nonlocal cycles
                while clock[0] < end:
                    await agent.cycle()
                    cycles += 1
                    due = agent.next_due()
                    step = (
                        cfg.agent.interval
                        if due is None
                        else min(cfg.agent.interval, due - clock[0])
                    )
                    clock[0] += max(1.0, step)

            asyncio.run(day())
            return {"cycles": cycles, "checkips": srv.checkips, "updates": len(srv.updates)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=30.0, help="idle sampling window, seconds")
    parser.add_argument("--settle", type=float, default=10.0, help="wait after the first updates")
    parser.add_argument(
        "--write", action="store_true", help="write the section into bench/RESULTS.md"
    )
    args = parser.parse_args()
    if shutil.which("ddclient") is None:
        raise SystemExit("ddclient is not installed (Debian package ddclient)")
    m = measure(args.window, args.settle)
    day = simulated_day()
    ratio = m["homeport_rss"] / m["ddclient_rss"]
    lines = [
        "## agent_footprint",
        "",
        f"`{sys.executable} bench/agent_footprint.py --window {args.window:g}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; same ddclient.conf, "
        f"{HOSTS.count(',') + 1} hosts, "
        f"daemon={INTERVAL}, local checkip + dyndns2 servers on 127.0.0.1)",
        "",
        "| | ddclient 3.10 | homeport agent | ratio |",
        "|---|---|---|---|",
        f"| idle RSS (MiB) | {m['ddclient_rss']:.1f} | {m['homeport_rss']:.1f} | {ratio:.2f}x |",
        f"| CPU in {args.window:g} s idle window (s) | {m['ddclient_cpu_idle']:.2f} | "
        f"{m['homeport_cpu_idle']:.2f} | |",
        f"| CPU since start incl. first cycle (s) | {m['ddclient_cpu_total']:.2f} | "
        f"{m['homeport_cpu_total']:.2f} | |",
        f"| update requests / checkip polls | {m['ddclient_updates']} / {m['ddclient_checkips']} | "
        f"{m['homeport_updates']} / {m['homeport_checkips']} | |",
        "",
        f"Budget: homeport idle RSS <= 2x ddclient's: {'PASS' if ratio <= 2 else 'FAIL'} "
        f"({ratio:.2f}x). homeport's daemon parent imports neither pydantic nor asyncio;",
        "each cycle runs in a child process (its CPU is in the 'since start' row).",
        "",
        "Simulated day with no IP change (agent cycle code with an injected clock, every request",
        f"real on loopback): {day['cycles']} cycles, {day['checkips']} checkip polls, "
        f"{day['updates']} update request (the first run's); "
        f"re-sends of the unchanged address: {day['updates'] - 1}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(ROOT / "bench" / "RESULTS.md", text)


def write_section(path: Path, section: str) -> None:
    """Replace (or add) only the ## agent_footprint section."""
    old = path.read_text() if path.exists() else "# Benchmark results\n\n"
    start = old.find("## agent_footprint")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start] + section + ("" if end < 0 else "\n" + old[end + 1 :])
    path.write_text(new)


if __name__ == "__main__":
    main()
