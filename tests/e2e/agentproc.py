"""A real `homeport agent run` daemon in the namespace lab, for the e2e tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from tests.lab.netlab import Lab


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


class AgentProcess:
    """`homeport agent run -v` in a lab namespace; its log goes to a file the test reads."""

    def __init__(self, lab: Lab, name: str, config: str, *, role: str = "home") -> None:
        self.lab = lab
        self.config = lab.workdir / f"{name}.toml"
        self.log = lab.workdir / f"{name}.log"
        self.state = lab.workdir / f"{name}-state"
        self.state.mkdir()
        self.config.write_text(config)
        with self.log.open("wb") as err:
            self.proc = lab.popen(
                role,
                sys.executable,
                "-m",
                "homeport",
                "agent",
                "run",
                "-v",
                "--config",
                str(self.config),
                "--state-dir",
                str(self.state),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def count(self, needle: str) -> int:
        return self.text().count(needle)

    def wait_log(self, needle: str, timeout: float, *, more_than: int = 0) -> None:
        if not wait_until(lambda: self.count(needle) > more_than, timeout):
            raise AssertionError(
                f"no {needle!r} in the agent's log after {timeout} s:\n{self.text()}"
            )

    def stop(self) -> int:
        """SIGTERM (a clean stop); returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """Whatever happened: the daemon and its children (the keeper has its own group)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # The keeper (its own process group) sees its lifeline pipe close and stops by
        # itself; make sure of it, by the pid the daemon logged.
        for match in re.finditer(r"mapping keeper started \(pid (\d+)\)", self.text()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(match.group(1)), signal.SIGKILL)
