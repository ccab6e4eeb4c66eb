from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

import homeport
from homeport.errors import EXIT_CONFIG
from tests.helpers import SRC, homeport_env
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


# What `pip install homeport` leaves out: the server extra's distributions (import names and
# dist-info directories start so).
SERVER_ONLY = ("aiosqlite", "argon2", "_argon2", "prometheus_client")


@pytest.fixture(scope="module")
def agent_only_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding what this one holds except the server extra's distributions: an
    install without ``[server]``, made from links instead of downloads."""
    root = tmp_path_factory.mktemp("agent-only")
    site_packages = Path(sysconfig.get_path("purelib"))
    kept = root / "site-packages"
    kept.mkdir()
    for entry in site_packages.iterdir():
        if not entry.name.lower().startswith(SERVER_ONLY):
            (kept / entry.name).symlink_to(entry)
    venv.create(root / "venv", with_pip=False)
    (venv_site,) = (root / "venv" / "lib").glob("python*/site-packages")
    # addsitedir also runs the .pth files there (homeport's editable install among them).
    (venv_site / "kept.pth").write_text(f"import site; site.addsitedir({str(kept)!r})\n")
    python = root / "venv" / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import aiosqlite"], capture_output=True, text=True, check=False
    )
    assert probe.returncode != 0, "the server's dependencies must be missing"
    return python


def run_with(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "homeport", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=homeport_env(),
        check=False,
    )


def test_server_without_its_extra_names_the_extra(agent_only_python: Path) -> None:
    result = run_with(agent_only_python, "server", "run", "--demo")
    assert result.returncode == EXIT_CONFIG
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "needs the server extra: pip install 'homeport[server]'" in line
    assert "aiosqlite" in line


def test_an_agent_only_install_runs_everything_but_the_server(agent_only_python: Path) -> None:
    listing = run_with(agent_only_python, "--help")
    assert listing.returncode == 0, listing.stderr
    assert "server" in listing.stdout  # listed, never hidden
    for command in ("agent", "ip", "map", "doctor"):
        result = run_with(agent_only_python, command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage: homeport" in result.stdout


def test_a_subcommand_that_fails_to_import_fails_loudly(tmp_path: Path) -> None:
    """A bug (here a module that is not there) is a traceback, not a hidden command."""
    shutil.copytree(SRC / "homeport", tmp_path / "homeport")
    init = tmp_path / "homeport" / "server" / "__init__.py"
    init.write_text(init.read_text() + "\nimport homeport.server.no_such_module\n")
    result = subprocess.run(
        [sys.executable, "-m", "homeport", "server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**homeport_env(), "PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert result.returncode != 0
    assert "No such command" not in result.stderr
    assert "Traceback" in result.stderr
    assert "ModuleNotFoundError: No module named 'homeport.server.no_such_module'" in (
        result.stderr
    )
