"""Shared test helpers: run the homeport CLI from this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def homeport_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a homeport subprocess: this checkout's src first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("PYTHONWARNINGS", "error")
    env.update(extra or {})
    return env


HOMEPORT = [sys.executable, "-m", "homeport"]


def run_homeport(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HOMEPORT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=homeport_env(env),
        input=input,
    )
