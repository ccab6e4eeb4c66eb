#!/usr/bin/env python3
"""Time from command start to mapping confirmed, per method, against Debian's clients.

Runs in the namespace lab (root): our CLI as a subprocess in `home` versus `upnpc -a` and
`natpmpc -a` on the same router in the same run. Both sides discover the router as a user
would (SSDP for UPnP, the default route for NAT-PMP/PCP). PCP has no Debian client; its
ratio is given against natpmpc (same request/response shape).

    /work/main/.venv/bin/python bench/map_latency.py [ROUNDS]

Prints a table and writes the ``## map_latency`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.lab.netlab import Lab  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## map_latency"


def timed(lab: Lab, argv: list[str], ok: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.ns["home"], *argv], capture_output=True, text=True, timeout=60
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or not re.search(ok, proc.stdout):
        raise RuntimeError(f"{argv[:4]} failed: {proc.stdout[-300:]} {proc.stderr[-300:]}")
    return elapsed


def homeport(lab: Lab, *args: str) -> list[str]:
    return [
        "env",
        f"PYTHONPATH={ROOT / 'src'}",
        f"HOMEPORT_STATE_DIR={lab.workdir}/bench",
        sys.executable,
        "-m",
        "homeport",
        *args,
    ]


def run(rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    lab = Lab.up("single")
    try:
        gw = lab.router_lan_ip
        cases = {
            "homeport upnp": (
                lambda p: homeport(
                    lab,
                    "map",
                    "add",
                    str(p),
                    "--internal-port",
                    "8080",
                    "--method",
                    "upnp",
                    "--lease",
                    "600",
                ),
                r"via upnp",
                lambda p: homeport(lab, "map", "rm", str(p), "--method", "upnp"),
            ),
            "upnpc -a": (
                lambda p: ["upnpc", "-i", "-a", lab.home_ip, "8080", str(p), "TCP", "600"],
                r"is redirected to internal",
                lambda p: ["upnpc", "-i", "-d", str(p), "TCP"],
            ),
            "homeport natpmp": (
                lambda p: homeport(
                    lab,
                    "map",
                    "add",
                    str(p),
                    "--internal-port",
                    "8081",
                    "--method",
                    "natpmp",
                    "--lease",
                    "600",
                ),
                r"via natpmp",
                lambda p: ["natpmpc", "-g", gw, "-a", str(p), "8081", "tcp", "0"],
            ),
            "natpmpc -a": (
                lambda p: ["natpmpc", "-a", str(p), "8082", "tcp", "600"],
                r"Mapped public port",
                lambda p: ["natpmpc", "-g", gw, "-a", str(p), "8082", "tcp", "0"],
            ),
            "homeport pcp": (
                lambda p: homeport(
                    lab,
                    "map",
                    "add",
                    str(p),
                    "--internal-port",
                    "8083",
                    "--method",
                    "pcp",
                    "--lease",
                    "600",
                ),
                r"via pcp",
                lambda p: homeport(lab, "map", "rm", str(p), "--method", "pcp"),
            ),
        }
        port = 20000
        for _ in range(rounds):
            # The floor for our numbers: interpreter start-up and the CLI's imports, no request.
            times.setdefault("homeport start-up only", []).append(
                timed(lab, homeport(lab, "map", "--help"), r"Usage")
            )
            for name, (add, ok, remove) in cases.items():
                port += 1
                times.setdefault(name, []).append(timed(lab, add(port), ok))
                subprocess.run(
                    ["ip", "netns", "exec", lab.ns["home"], *remove(port)],
                    capture_output=True,
                    timeout=60,
                )
    finally:
        lab.down()
    return times


def table(times: dict[str, list[float]], rounds: int) -> str:
    med = {name: statistics.median(values) for name, values in times.items()}
    pairs = {
        "homeport upnp": "upnpc -a",
        "homeport natpmp": "natpmpc -a",
        "homeport pcp": "natpmpc -a",
    }
    lines = [
        f"median of {rounds} rounds, command start to mapping confirmed (process exit)",
        "",
        "| command | median ms | min ms | max ms | ratio vs peer (lower is faster) |",
        "|---|---:|---:|---:|---|",
    ]
    for name, values in times.items():
        ratio = ""
        if name in pairs:
            peer = pairs[name]
            ratio = f"{med[name] / med[peer]:.2f}x {peer}"
        lines.append(
            f"| {name} | {med[name] * 1000:.0f} | {min(values) * 1000:.0f} | "
            f"{max(values) * 1000:.0f} | {ratio} |"
        )
    return "\n".join(lines)


def write_results(body: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = (
        f"{SECTION}\n\n`/work/main/.venv/bin/python bench/map_latency.py` "
        f"(namespace lab, miniupnpd 2.3.1; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
        f"\n\n{body}\n"
    )
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times = run(rounds)
    body = table(times, rounds)
    print(body)
    write_results(body)


if __name__ == "__main__":
    main()
