"""The layering is a contract that can fail: import-linter's contracts in pyproject.toml.

The tree must keep them; a copy of the package with a violation planted must break them,
and the report must name the offending import. import-linter works on full module names
and resolves relative imports, so ``from homeport.io import http`` inside ``proto/`` and
``from ..agent import x`` inside ``core/`` are seen, which a check on top-level names missed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, SRC

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the venv's ``lint-imports`` on the contracts in ``root``/pyproject.toml, with the
    package imported from ``root``/src (grimp finds the package through the import path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root / "src")
    # One line per import in the report: rich wraps at the terminal width otherwise.
    env["COLUMNS"] = "400"
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "4 kept" in result.stdout, result.stdout


@pytest.fixture
def copy_of_tree(tmp_path: Path) -> Path:
    """The package and its contracts, copied where a test may break them."""
    shutil.copytree(SRC / "homeport", tmp_path / "src" / "homeport")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(root: Path, module: str, line: str) -> None:
    path = root / "src" / "homeport" / module
    path.write_text(path.read_text() + "\n" + line + "\n")


# (module to plant in, the import, what the report must say)
VIOLATIONS = [
    pytest.param(
        "proto/natpmp.py",
        "from homeport.io import http",
        "homeport.proto.natpmp -> homeport.io.http",
        id="proto-imports-io",
    ),
    pytest.param(
        "core/mapping.py",
        "from ..agent import config",
        "homeport.core.mapping -> homeport.agent.config",
        id="core-imports-agent-relative",
    ),
    pytest.param(
        "core/consensus.py",
        "import urllib.request",
        "homeport.core.consensus -> urllib",
        id="core-imports-urllib",
    ),
    pytest.param(
        "proto/dns_answer.py",
        "import asyncio",
        "homeport.proto.dns_answer -> asyncio",
        id="proto-imports-asyncio",
    ),
    pytest.param(
        "providers/duckdns.py",
        "from homeport.agent import publish",
        "homeport.providers.duckdns -> homeport.agent.publish",
        id="providers-import-agent",
    ),
    pytest.param(
        "agent/daemon.py",
        "from homeport.server import store",
        "homeport.agent.daemon -> homeport.server.store",
        id="agent-imports-server",
    ),
    pytest.param(
        "doctor/run.py",
        "import aiosqlite",
        "homeport.doctor.run -> aiosqlite",
        id="doctor-imports-a-server-dependency",
    ),
    pytest.param(
        "server/probe.py",
        "from homeport.portmap import router",
        "homeport.server.probe -> homeport.portmap.router",
        id="server-imports-portmap",
    ),
]


@pytest.mark.parametrize(("module", "line", "reported"), VIOLATIONS)
def test_a_planted_violation_breaks_the_check(
    copy_of_tree: Path, module: str, line: str, reported: str
) -> None:
    assert lint_imports(copy_of_tree).returncode == 0, "the copy must pass before planting"
    plant(copy_of_tree, module, line)
    result = lint_imports(copy_of_tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert reported in result.stdout, result.stdout


def test_an_import_inside_a_function_counts(copy_of_tree: Path) -> None:
    plant(copy_of_tree, "core/zone.py", "def _late() -> None:\n    import socket  # noqa")
    result = lint_imports(copy_of_tree)
    assert result.returncode != 0
    assert "homeport.core.zone -> socket" in result.stdout, result.stdout


def test_an_exemption_that_matches_nothing_breaks_the_check(copy_of_tree: Path) -> None:
    """Once a leak is fixed its ignore_imports entry must go too, or the check fails."""
    pyproject = copy_of_tree / "pyproject.toml"
    text = pyproject.read_text()
    marker = '  "homeport.agent.commands -> homeport.doctor.*",\n'
    assert marker in text
    pyproject.write_text(
        text.replace(marker, marker + '  "homeport.proto.natpmp -> homeport.io.http",\n', 1)
    )
    result = lint_imports(copy_of_tree)
    assert result.returncode != 0
    assert "homeport.proto.natpmp -> homeport.io.http" in result.stdout + result.stderr
