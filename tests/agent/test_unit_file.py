"""The shipped systemd unit is valid and runs what the CLI offers."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import ROOT

UNIT = ROOT / "contrib" / "systemd" / "homeport-agent.service"


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert "ExecStart=/usr/bin/homeport agent run --config /etc/homeport/agent.toml" in text
    assert "Type=notify" in text
    # /usr/bin/homeport is not installed in the test checkout; everything else is verified.
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace("/usr/bin/homeport", "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "homeport-agent.service" not in result.stderr  # no warnings about our unit
