"""proto/ and core/ stay pure: no sockets, clocks, randomness or event loops."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "homeport"

FORBIDDEN = {
    "asyncio",
    "socket",
    "time",
    "random",
    "secrets",
    "ssl",
    "selectors",
    "subprocess",
    "threading",
    "aiohttp",
    "aiosqlite",
    "psycopg",
    "uvloop",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


PURE_FILES = sorted(p for layer in ("proto", "core") for p in (SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_layers_import_no_io(path: Path) -> None:
    bad = _imports(path) & FORBIDDEN
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import asyncio\nfrom time import monotonic\nfrom . import y\n")
    assert _imports(sample) & FORBIDDEN == {"asyncio", "time"}


def test_there_are_pure_modules_to_check() -> None:
    assert len(PURE_FILES) >= 3
