"""Secrets for config values: inline, from an environment variable, a file, or systemd.

Any setting ``X`` a provider knows may instead be given as ``X_env`` (the name of
an environment variable; ddclient's ``password_env``), ``X_file`` (a file whose
first line is the value; Docker secrets) or ``X_credential`` (a name under
``$CREDENTIALS_DIRECTORY``, where systemd's ``LoadCredential=`` puts secrets).
Errors name the variable or file, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SUFFIXES = ("_env", "_file", "_credential")


class SecretProblem(ValueError):
    """A secret reference that cannot be resolved; the message holds no secret."""


def resolve(key: str, reference: Any, env: Mapping[str, str]) -> str:
    """The secret ``reference`` points at, for a key ending in one of SUFFIXES."""
    if not isinstance(reference, str) or not reference:
        raise SecretProblem("must be a non-empty string")
    if key.endswith("_env"):
        value = env.get(reference)
        if value is None:
            raise SecretProblem(f"environment variable {reference} is not set")
        return value
    if key.endswith("_credential"):
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise SecretProblem(
                "CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the systemd unit)"
            )
        path = Path(directory) / reference
    else:
        path = Path(reference)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretProblem(f"cannot read {path}: {exc.strerror or exc}") from exc
    return text.splitlines()[0] if text else ""


def expand(
    entry: Mapping[str, Any], known: set[str], env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Replace ``X_env``/``X_file``/``X_credential`` by ``X`` where ``X`` is a known setting.

    Returns the expanded entry and problems keyed by the original key.
    """
    env = os.environ if env is None else env
    out: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, value in entry.items():
        base = next((key[: -len(s)] for s in SUFFIXES if key.endswith(s)), None)
        if base is None or base not in known or key in known:
            out[key] = value
            continue
        if base in entry:
            problems[key] = f"give either {base} or {key}, not both"
            continue
        try:
            out[base] = resolve(key, value, env)
        except SecretProblem as exc:
            problems[key] = str(exc)
    return out, problems
