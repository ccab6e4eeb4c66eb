"""The daemon's metrics text and the doctor runs behind its homeport_doctor_* gauges."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest

from homeport.agent import config
from homeport.agent.metrics import (
    doctor_command,
    doctor_report,
    render_metrics,
    run_doctor,
    status_document,
)
from homeport.agent.supervisor import _doctor_settings
from homeport.core.doctor import Check, Verdict
from homeport.doctor.commands import as_json

CHECKS = [
    Check("listening", Verdict.OK, "port 888 listens on 0.0.0.0", "", "port 888"),
    Check("lan-address", Verdict.WARN, "192.168.1.20 comes from DHCP", "Reserve it."),
    Check("router", Verdict.SKIPPED, "router checks turned off (--no-router)"),
    Check("dns", Verdict.FAIL, "A is 192.0.2.99, not 203.0.113.7", "Update.", "a.example A"),
    # Two names on one port share the subject: the worse one shows.
    Check("reachable", Verdict.OK, "reached", "", "port 888 IPv4"),
    Check("reachable", Verdict.FAIL, "timeout", "Map it.", "port 888 IPv4"),
    Check("tls", Verdict.OK, 'cert "a\\b" ok', "", 'a"b'),
]


def metric_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith((name + "{", name + " "))]


def test_doctor_report_renders_as_gauges() -> None:
    report = doctor_report(as_json(CHECKS).encode(), 2, 1_700_000_000.5)
    text = render_metrics({}, {}, report)
    assert metric_lines(text, "homeport_doctor_verdict") == [
        'homeport_doctor_verdict{hop="dns",subject="a.example A"} 2',
        'homeport_doctor_verdict{hop="lan-address",subject=""} 1',
        'homeport_doctor_verdict{hop="listening",subject="port 888"} 0',
        'homeport_doctor_verdict{hop="reachable",subject="port 888 IPv4"} 2',
        'homeport_doctor_verdict{hop="router",subject=""} -1',
        'homeport_doctor_verdict{hop="tls",subject="a\\"b"} 0',
    ]
    assert metric_lines(text, "homeport_doctor_worst") == ["homeport_doctor_worst 2"]
    assert metric_lines(text, "homeport_doctor_last_run_timestamp_seconds") == [
        "homeport_doctor_last_run_timestamp_seconds 1700000000"
    ]
    assert "# TYPE homeport_doctor_verdict gauge" in text
    document = status_document({}, {}, report)
    assert document["doctor"]["verdict"] == "fail"
    assert len(document["doctor"]["checks"]) == len(CHECKS)
    json.dumps(document)  # served as JSON


def test_no_doctor_no_doctor_lines() -> None:
    assert "homeport_doctor" not in render_metrics({}, {})
    assert "homeport_doctor" not in render_metrics({}, {}, {"error": "exited with status 78"})
    assert status_document({}, {})["doctor"] is None


def test_doctor_report_refuses_what_is_not_a_report() -> None:
    with pytest.raises(ValueError, match="exited with status 78"):
        doctor_report(b"", 78, 0)
    with pytest.raises(ValueError, match="printed no report"):
        doctor_report(b'{"verdict": "ok"}', 0, 0)
    with pytest.raises(ValueError, match="printed no report"):
        doctor_report(b"not json", 0, 0)


def test_doctor_command_skips_the_router_only_without_mappings() -> None:
    base = [sys.executable, "-m", "homeport", "doctor", "--config", "/etc/a.toml", "--json"]
    assert doctor_command("/etc/a.toml", {"interval": 60, "router": True, "dns": None}) == base
    assert doctor_command(
        "/etc/a.toml", {"interval": 60, "router": False, "dns": "127.0.0.1:5353"}
    ) == [*base, "--no-router", "--dns", "127.0.0.1:5353"]


def test_a_failing_doctor_is_one_line_from_its_stderr() -> None:
    script = (
        "import sys; sys.stderr.write('noise\\nhomeport: error: bad config\\n\\n'); sys.exit(78)"
    )
    with pytest.raises(ValueError, match=r"^exited with status 78: homeport: error: bad config$"):
        asyncio.run(run_doctor([sys.executable, "-c", script]))


def test_a_stuck_doctor_is_killed() -> None:
    with pytest.raises(ValueError, match="still running after 1 s; killed"):
        asyncio.run(run_doctor([sys.executable, "-c", "import time; time.sleep(60)"], limit=1))


def test_a_real_doctor_report_is_read() -> None:
    script = f"print({as_json(CHECKS[:1])!r}); raise SystemExit(0)"
    report = asyncio.run(run_doctor([sys.executable, "-c", script]))
    assert report["exit_code"] == 0
    assert report["checks"][0]["hop"] == "listening"


CONFIG = """
[[provider]]
protocol = "dyndns2"
hosts = ["a.example.org"]
server = "127.0.0.1:9"
login = "me"
password = "pw"
[hooks]
advertise_ports = [888]
[metrics]
listen = "127.0.0.1:9475"
doctor = "15m"
doctor_dns = "127.0.0.1:5353"
"""


def test_the_summary_says_how_to_run_the_doctor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(CONFIG)
    cfg = config.load(path)
    assert _doctor_settings(cfg, str(path), False, warn=True) == {
        "interval": 900.0,
        "dns": "127.0.0.1:5353",
        "router": False,  # no [[mapping]]: no router expected, --no-router
    }
    path.write_text(CONFIG + "[[mapping]]\ninternal_port = 888\n")
    assert _doctor_settings(config.load(path), str(path), False, warn=True)["router"] is True
    # A TOML file not named *.toml: `homeport doctor --config` would read it as ddclient.conf.
    other = tmp_path / "agent.conf"
    other.write_text(CONFIG)
    cfg = config.load(other, ddclient=False)
    with caplog.at_level(logging.WARNING, logger="homeport.agent"):
        assert _doctor_settings(cfg, str(other), False, warn=True) is None
    assert "[metrics] doctor is not run" in caplog.text
    path.write_text(CONFIG.replace('doctor = "15m"', 'doctor = "0s"'))
    assert _doctor_settings(config.load(path), str(path), False, warn=True) is None
