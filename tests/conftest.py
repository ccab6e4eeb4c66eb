"""Suite-wide set-up shared by every test directory."""

from __future__ import annotations

import compileall

import pytest
from hypothesis import settings

from tests.helpers import ROOT, SRC

# Hypothesis fails an example slower than 200 ms by default: a timed assertion, which on a
# shared 2-core CI machine fails for load, not for a bug (DeadlineExceeded at 396 ms in
# test_any_value_survives_ddclient_quoting). Properties are checked; speed is bench/'s job.
settings.register_profile("homeport", deadline=None)
settings.load_profile("homeport")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile the checkout once, before any test starts a ``homeport`` process.

    Every server, agent and admin command a test starts is a new interpreter on ``src/``.
    Where ``PYTHONDONTWRITEBYTECODE`` is set (as on our CI machines) none of them writes a
    ``.pyc``, so each compiled the ~60 modules it imports from source again: ~0.06 s CPU of
    the ~0.5 s a ``homeport server host list`` costs. Interpreters still *read* existing
    byte code, so compiling once here (into the ``__pycache__`` directories .gitignore
    skips) removes that cost without changing what any test runs. Python recompiles a
    file whose source changed (mtime), as always; a read-only checkout keeps the old cost.
    """
    for tree in (SRC, ROOT / "tests"):
        compileall.compile_dir(tree, quiet=1)
