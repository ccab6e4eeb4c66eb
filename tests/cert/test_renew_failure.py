"""A failed renewal is reported, remembered, and not retried at once (core.certrenew)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cert.test_config import PROVIDER
from tests.helpers import run_homeport


def test_a_failed_attempt_is_reported_then_waits(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    config = tmp_path / "agent.toml"
    config.write_text(
        PROVIDER
        + f'[[certificate]]\nname = "home.example.org"\ndirectory = "{certs}"\n'
        # Nothing listens there: the CA cannot be reached.
        + 'acme = "https://127.0.0.1:1/dir"\n'
    )
    first = run_homeport("cert", "renew", "--config", str(config))
    assert first.returncode == 69, first.stderr
    assert "home.example.org: cannot talk to the CA" in first.stderr
    assert "Traceback" not in first.stderr
    state = json.loads((certs / "home.example.org" / "state.json").read_text())
    assert isinstance(state["last_failure"], float)
    second = run_homeport("cert", "renew", "--config", str(config))
    assert second.returncode == 0, second.stderr
    assert "the last attempt failed, waiting" in second.stdout
    forced = run_homeport("cert", "renew", "--force", "--config", str(config))
    assert forced.returncode == 69
