#!/usr/bin/env python3
"""Run a MappingKeeper inside a lab namespace; print each KeeperEvent as one JSON line.

Usage: keeper_driver.py METHOD EXT_PORT INT_PORT LEASE [CHECK_INTERVAL]
Stops (removing its mappings) on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import asdict

from homeport.portmap.mapping_keeper import KeeperEvent, MappingKeeper, MappingSpec


def show(event: KeeperEvent) -> None:
    data = asdict(event)
    print(json.dumps(data, default=str), flush=True)


async def main() -> None:
    method, ext, internal, lease = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    check = float(sys.argv[5]) if len(sys.argv) > 5 else 300.0
    spec = MappingSpec(
        external_port=ext, internal_port=internal, protocol="tcp", lease=lease, method=method
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    keeper = MappingKeeper([spec], on_event=show, check_interval=check)
    await keeper.start()
    started = {
        "kind": "started",
        "external_ip": str(await keeper.external_ip()),
        "kept": [asdict(spec) for spec in keeper.kept],
    }
    print(json.dumps(started), flush=True)
    await stop.wait()
    await keeper.stop()
    print(json.dumps({"kind": "stopped"}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
