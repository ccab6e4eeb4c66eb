"""Files and paths, kept free of heavy imports (the daemon's parent uses them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from homeport.errors import ConfigError


def read_text(origin: str) -> str:
    """The config file's text; ConfigError naming the file if it cannot be read."""
    try:
        return Path(origin).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{origin}: not UTF-8 text") from exc


ROOT_STATE_DIR = Path("/var/lib/homeport")  # FHS: variable state of a system daemon


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """/var/lib/homeport as root, else $XDG_STATE_HOME/homeport (~/.local/state/homeport)."""
    env = os.environ if env is None else env
    if env.get("STATE_DIRECTORY"):  # systemd's StateDirectory=
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if os.geteuid() == 0:
        return ROOT_STATE_DIR
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "homeport"
