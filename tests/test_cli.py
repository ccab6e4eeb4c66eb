from __future__ import annotations

import homeport
from tests.helpers import run_homeport as run


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert homeport.__version__ in result.stdout


def test_help_lists_commands_without_traceback() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "Usage: homeport" in result.stdout


def test_unknown_command_is_one_line_error() -> None:
    result = run("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "No such command" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
