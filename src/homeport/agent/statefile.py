"""The agent's persistent state: one JSON file, replaced atomically.

Written as temp file + fsync + rename + directory fsync, so a crash or power
cut leaves either the old or the new state, never half of one; the state is
what stops an unchanged address from being re-sent after a restart, so losing
it would make us the abusive client providers block (repeated ``nochg``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from homeport.agent.files import default_state_dir
from homeport.core import hoststate
from homeport.errors import StoreError

STATE_FILE = "agent-state.json"
# The tunnel process's report of each [[tunnel]] (homeport.agent.tunnel_process): written on
# every change, removed when it stops; `agent status`, the metrics and the doctor read it.
TUNNELS_FILE = "tunnels.json"
LOCK_FILE = "agent.lock"
FORMAT_VERSION = 1
__all__ = [
    "STATE_FILE",
    "TUNNELS_FILE",
    "StateFile",
    "default_state_dir",
    "read_tunnels",
    "write_atomic",
]


def read_tunnels(state_dir: Path) -> list[dict[str, Any]]:
    """The tunnels as the running tunnel process last wrote them (empty: none running)."""
    try:
        data = json.loads((Path(state_dir) / TUNNELS_FILE).read_text())
    except (OSError, ValueError):
        return []
    tunnels = data.get("tunnels") if isinstance(data, dict) else None
    return [t for t in tunnels if isinstance(t, dict)] if isinstance(tunnels, list) else []


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a crash
    finally:
        os.close(dir_fd)


class StateFile:
    """Host states keyed by host name, loaded once and saved after each change."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / STATE_FILE

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the state directory's lock: one agent cycle at a time per state."""
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.parent / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot use {self.path.parent}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def load(self) -> dict[str, hoststate.HostState]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StoreError(
                f"{self.path} is not valid JSON; move it away to start afresh"
            ) from exc
        hosts = data.get("hosts", {}) if isinstance(data, dict) else {}
        return {
            name: hoststate.from_json(name, value)
            for name, value in hosts.items()
            if isinstance(value, dict)
        }

    def save(self, states: Mapping[str, hoststate.HostState]) -> None:
        document: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "hosts": {name: hoststate.to_json(s) for name, s in sorted(states.items())},
        }
        try:
            write_atomic(self.path, json.dumps(document, indent=1).encode())
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
