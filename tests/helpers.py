"""Shared test helpers: run the homeport CLI from this checkout."""

from __future__ import annotations

import ast
import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
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


@contextlib.contextmanager
def network_namespace(prefix: str) -> Iterator[str]:
    """A fresh network namespace of this test's own (``lo`` up, nothing else), deleted
    afterwards even on failure. Needs root; the callers' fixtures skip without it."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(
            ["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def modules_loaded_by(code: str, watched: Sequence[str]) -> list[str]:
    """Which of ``watched`` (packages or modules) a fresh interpreter has loaded after
    running ``code`` against this checkout: for "importing X does not pull Y" checks."""
    script = (
        f"import sys\n{code}\n"
        f"print([w for w in {list(watched)!r}\n"
        "       if any(m == w or m.startswith(w + '.') for m in sys.modules)])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=homeport_env(), capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    loaded: list[str] = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    return loaded
