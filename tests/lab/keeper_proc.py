"""Drive tests/lab/keeper_driver.py (a MappingKeeper) inside a lab namespace from a test."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.lab.netlab import Lab

DRIVER = Path(__file__).resolve().parent / "keeper_driver.py"


class KeeperProcess:
    def __init__(
        self, lab: Lab, method: str, external_port: int, internal_port: int, lease: int
    ) -> None:
        self.proc = lab.popen(
            "home",
            sys.executable,
            str(DRIVER),
            method,
            str(external_port),
            str(internal_port),
            str(lease),
            stdout=subprocess.PIPE,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def wait_for(self, kind: str, timeout: float) -> dict[str, Any]:
        """The next event of ``kind`` (events before it are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind!r} event in {timeout} s; saw {self.kinds()}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(event)
            if event["kind"] == kind:
                return event

    def drain(self) -> None:
        while not self.events.empty():
            self.seen.append(self.events.get_nowait())

    def kinds(self) -> list[str]:
        self.drain()
        return [event["kind"] for event in self.seen]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.wait_for("stopped", 10)
        self.proc.wait(timeout=10)
