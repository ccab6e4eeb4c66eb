"""The lock files that ./scripts/demo and ./scripts/test install from agree with pyproject.toml.

scripts/lock writes them; these tests catch a lock that was not refreshed after pyproject.toml
changed (a dependency added, removed or its range moved), a pin without a hash (pip would then
refuse the whole file in --require-hashes mode), a lock that points at a local wheel directory,
and a demo that would install a version the suite never ran.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from dataclasses import dataclass

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT

LOCKS = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])

# How scripts/lock names the origin of each kind of direct requirement in the `# via` notes.
VIA_PROJECT = "homeport (pyproject.toml)"
VIA_BUILD = "pyproject.toml [build-system]"

# What each lock installs besides the build backend: scripts/demo installs `.[server,speed]`,
# scripts/test `.[test]`.
LOCK_EXTRAS = {"demo.lock": ("server", "speed"), "test.lock": ("test",)}


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]
    via: frozenset[str]

    @property
    def version(self) -> str:
        (spec,) = self.requirement.specifier
        return spec.version


# A pin starts at column 0; its hashes and `# via` notes are indented below it.
_ENTRY = re.compile(r"^(?=\S)(?!#)", re.MULTILINE)
_HASH = re.compile(r"\s+--hash=(sha256:[0-9a-f]{64})")


def parse_lock(text: str) -> dict[str, Pin]:
    """The pins of a `uv pip compile --generate-hashes` file; ValueError on anything else."""
    pins: dict[str, Pin] = {}
    for entry in _ENTRY.split(text)[1:]:
        lines = entry.splitlines()
        head = lines[0].removesuffix("\\").strip()
        if head.startswith("-"):
            raise ValueError(f"option line in a lock: {head!r}")
        req = Requirement(head)
        specs = list(req.specifier)
        if req.url or len(specs) != 1 or specs[0].operator != "==":
            raise ValueError(f"not pinned with ==: {head!r}")
        hashes = tuple(m.group(1) for line in lines if (m := _HASH.match(line)))
        if not hashes:
            raise ValueError(f"no --hash= for {head!r}")
        via: set[str] = set()
        for line in lines:
            note = line.strip().removeprefix("#").strip()
            if line.lstrip().startswith("#") and note != "via":
                via.add(note.removeprefix("via ").strip())
        name = canonicalize_name(req.name)
        if name in pins:
            raise ValueError(f"{name} pinned twice")
        pins[name] = Pin(req, hashes, frozenset(via))
    return pins


def _lock(name: str) -> dict[str, Pin]:
    return parse_lock((LOCKS / name).read_text())


def direct_requirements(wanted: tuple[str, ...]) -> list[Requirement]:
    """pyproject.toml's dependencies plus the `wanted` extras, their self-references
    (homeport[a,b]) expanded."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    found: list[Requirement] = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    todo, seen = list(wanted), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for raw in extras[name]:
            req = Requirement(raw)
            if canonicalize_name(req.name) == PROJECT:
                todo.extend(req.extras)
            else:
                found.append(req)
    return found


def build_requirements() -> list[Requirement]:
    """What the editable install needs with --no-build-isolation (as scripts/lock computes it)."""
    build = PYPROJECT["build-system"]
    backend = importlib.import_module(build["build-backend"])
    editable: list[str] = backend.get_requires_for_build_editable()
    return [Requirement(r) for r in dict.fromkeys([*build["requires"], *editable])]


def missing_or_outside(pins: dict[str, Pin], wanted: list[Requirement]) -> list[str]:
    problems = []
    for req in wanted:
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req} but the lock pins {pin.version}")
    return problems


@pytest.mark.parametrize("lock", sorted(LOCK_EXTRAS))
def test_every_pyproject_requirement_is_pinned_within_its_range(lock: str) -> None:
    pins = _lock(lock)
    wanted = direct_requirements(LOCK_EXTRAS[lock]) + build_requirements()
    assert missing_or_outside(pins, wanted) == []


@pytest.mark.parametrize("lock", sorted(LOCK_EXTRAS))
def test_the_lock_was_resolved_from_todays_pyproject(lock: str) -> None:
    """A dependency removed from pyproject.toml (or moved to another extra) leaves the lock too."""
    pins = _lock(lock)
    from_project = {name for name, pin in pins.items() if VIA_PROJECT in pin.via}
    from_build = {name for name, pin in pins.items() if VIA_BUILD in pin.via}
    assert from_project == {
        canonicalize_name(r.name) for r in direct_requirements(LOCK_EXTRAS[lock])
    }
    # At least: what the installed backend asks for depends on its version (hatchling 1.21
    # asks nothing more for an editable build, 1.33 asks for `editables`), and the venv of
    # `./scripts/lock --lowest` runs an older backend than the one locked.
    assert from_build >= {canonicalize_name(r.name) for r in build_requirements()}


@pytest.mark.parametrize("lock", sorted(LOCK_EXTRAS))
def test_the_lock_names_no_index_or_local_path(lock: str) -> None:
    """Installs come from the index pip is configured with; never this machine's wheel dirs."""
    text = (LOCKS / lock).read_text()
    assert not re.search(r"^\s*-", text.replace("--hash=", ""), re.MULTILINE)
    assert "file:" not in text
    assert "/opt/" not in text


def test_the_demo_installs_only_what_the_suite_ran() -> None:
    demo, test = _lock("demo.lock"), _lock("test.lock")
    assert set(demo) <= set(test)
    differ = [
        n
        for n, pin in demo.items()
        if (pin.version, pin.hashes) != (test[n].version, test[n].hashes)
    ]
    assert differ == []


def test_the_checks_see_what_they_check() -> None:
    good = (
        "aiohttp==3.14.5 \\\n"
        f"    --hash=sha256:{'0' * 64} \\\n"
        f"    --hash=sha256:{'1' * 64}\n"
        "    # via\n"
        f"    #   {VIA_PROJECT}\n"
        "    #   -c requirements/test.lock\n"
        "pycparser==3.12 ; implementation_name != 'PyPy' \\\n"
        f"    --hash=sha256:{'2' * 64}\n"
        "    # via cffi\n"
    )
    pins = parse_lock("# header\n#    ./scripts/lock\n" + good)
    assert pins["aiohttp"].version == "3.14.5"
    assert pins["aiohttp"].via == {VIA_PROJECT, "-c requirements/test.lock"}
    assert pins["pycparser"].via == {"cffi"}
    assert len(pins["aiohttp"].hashes) == 2
    assert missing_or_outside(pins, [Requirement("aiohttp>=3.9")]) == []
    assert missing_or_outside(pins, [Requirement("aiohttp>=3.15")]) == [
        "aiohttp>=3.15 but the lock pins 3.14.5"
    ]
    assert missing_or_outside(pins, [Requirement("rich>=13")]) == ["rich>=13 is not in the lock"]
    with pytest.raises(ValueError, match="no --hash="):
        parse_lock("rich==15.0.0\n    # via homeport\n")
    with pytest.raises(ValueError, match="not pinned"):
        parse_lock(f"rich>=13 \\\n    --hash=sha256:{'0' * 64}\n")
    with pytest.raises(ValueError, match="option line"):
        parse_lock("--find-links /opt/wheels\n")
