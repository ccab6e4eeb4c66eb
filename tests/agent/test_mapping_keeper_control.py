"""The daemon's side of the mapping keeper: its decisions (pure) and the child process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from homeport.agent import mapping_keeper_control, mapping_keeper_process
from homeport.agent.config import load_toml
from homeport.agent.mapping_keeper_control import KeeperWatch, plan, split_lines
from homeport.agent.sources import router as router_source
from homeport.core.agent_schedule import RESTART_MAX, RESTART_RESET, restart_delay
from homeport.errors import LocalProtocolError
from homeport.portmap.base import Mapping
from homeport.portmap.mapping_keeper import KeeperEvent, MappingSpec
from tests.helpers import homeport_env, network_namespace

SPEC = MappingSpec(external_port=888, internal_port=8080, lease=120)
MAPPING = Mapping("tcp", 888, "192.168.1.10", 8080, 120, "pcp")


def event(kind: str, **extra: Any) -> dict[str, Any]:
    return mapping_keeper_process.event_json(KeeperEvent(kind, **extra))


def test_split_lines_keeps_the_unfinished_tail_and_skips_garbage() -> None:
    events, rest = split_lines(b'{"kind": "created"}\nnot json\n[1]\n{"kind": "ren')
    assert events == [{"kind": "created"}]
    assert rest == b'{"kind": "ren'
    events, rest = split_lines(rest + b'ewed"}\n')
    assert events == [{"kind": "renewed"}]
    assert rest == b""


@pytest.mark.parametrize(
    ("kind", "extra", "trigger"),
    [
        ("external-ip", {"external_ip": IPv4Address("203.0.113.5"), "detail": "203.0.113.2"}, True),
        ("recreated", {"spec": SPEC, "mapping": MAPPING}, True),
        ("router-reboot", {"spec": SPEC, "mapping": MAPPING, "detail": "pcp"}, True),
        ("created", {"spec": SPEC, "mapping": MAPPING}, False),
        ("renewed", {"spec": SPEC, "mapping": MAPPING}, False),
        ("failed", {"spec": SPEC, "detail": "timeout"}, False),
        ("removed", {"spec": SPEC, "mapping": MAPPING}, False),
    ],
)
def test_only_events_that_may_move_the_public_address_run_a_cycle(
    kind: str, extra: dict[str, Any], trigger: bool
) -> None:
    watch = KeeperWatch()
    assert watch.handle(event(kind, **extra))[0] is trigger
    watch.stopping = True  # our own stop: its events run no cycle
    assert watch.handle(event(kind, **extra))[0] is False


def test_log_lines_say_what_happened() -> None:
    watch = KeeperWatch()
    _, line = watch.handle(event("created", spec=SPEC, mapping=MAPPING))
    assert line == (
        logging.INFO,
        "mapping tcp 888 -> 192.168.1.10:8080 via pcp created (lease 120 s)",
    )
    other = Mapping("tcp", 1024, "192.168.1.10", 8080, 120, "natpmp")
    _, line = watch.handle(event("renewed", spec=SPEC, mapping=other))
    assert line is not None
    assert line[0] == logging.DEBUG
    assert "(router granted port 1024)" in line[1]
    _, line = watch.handle(
        event("external-ip", external_ip=IPv4Address("203.0.113.5"), detail="203.0.113.2")
    )
    assert line == (
        logging.INFO,
        "the router's external address is now 203.0.113.5 (was 203.0.113.2)",
    )


def test_external_ip_is_tracked_and_forgotten_when_the_keeper_dies() -> None:
    watch = KeeperWatch()
    watch.handle({"kind": "started", "external_ip": "203.0.113.2"})
    assert watch.external_ip == "203.0.113.2"
    watch.handle(event("external-ip", external_ip=IPv4Address("203.0.113.5"), detail="x"))
    assert watch.external_ip == "203.0.113.5"
    watch.exited(10.0, 1)
    assert watch.external_ip is None


def test_cgnat_is_said_once_even_across_keeper_restarts() -> None:
    watch = KeeperWatch()
    cgnat = event("no-mapping-possible", spec=SPEC, detail="CGNAT: the router's WAN is 100.64.0.2")
    trigger, line = watch.handle(cgnat)
    assert not trigger
    assert line is not None
    assert line[0] == logging.ERROR
    assert "not possible, not retried: CGNAT" in line[1]
    watch.exited(5.0, 0)
    watch.started(6.0)
    assert watch.handle(cgnat) == (False, None)
    other = MappingSpec(external_port=443, internal_port=443)
    assert watch.handle(event("no-mapping-possible", spec=other, detail="CGNAT"))[1] is not None


def test_a_dying_keeper_is_restarted_with_backoff_and_a_healthy_run_resets_it() -> None:
    assert [restart_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert restart_delay(30) == RESTART_MAX
    watch = KeeperWatch()
    watch.started(0.0)
    when, line = watch.exited(1.0, 70)
    assert when == 2.0
    assert line == "mapping keeper exited with status 70; starting it again in 1 s"
    watch.started(2.0)
    assert watch.exited(3.0, -9) == (5.0, "mapping keeper was killed; starting it again in 2 s")
    watch.started(5.0)
    assert watch.exited(6.0, 1)[0] == 10.0
    watch.started(10.0)
    assert watch.exited(10.0 + RESTART_RESET, 1)[0] == 11.0 + RESTART_RESET


def test_plan_carries_keep_and_defaults_into_the_keepers_specs(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        '[[provider]]\nprotocol = "dyndns2"\nhosts = ["h.example.org"]\nlogin = "l"\n'
        'password = "p"\n'
        '[[mapping]]\ninternal_port = 8080\nlease = "1m"\nkeep = true\nmethod = "upnp"\n'
        '[[mapping]]\nprotocol = "udp"\ninternal_port = 51820\nexternal_port = 51821\n'
    )
    cfg = load_toml(config)
    text = plan(cfg.mappings)
    assert plan(cfg.mappings) == text  # stable: compared as text on SIGHUP
    specs = mapping_keeper_process.specs(json.loads(text))
    assert specs == [
        MappingSpec(8080, 8080, "tcp", 60, "upnp", keep=True, description="homeport"),
        MappingSpec(51821, 51820, "udp", 3600, "auto", keep=False, description="homeport"),
    ]
    assert "password" not in text
    assert '"p"' not in text


def test_router_source_answers_the_keepers_address_and_ipv4_only() -> None:
    mapping_keeper_control.set_known_external_ip("203.0.113.7")
    try:
        settings = router_source.Settings()
        found = asyncio.run(router_source.detect(settings, 4, 1.0))
        assert found == IPv4Address("203.0.113.7")
        with pytest.raises(LocalProtocolError):
            asyncio.run(router_source.detect(settings, 6, 1.0))
    finally:
        mapping_keeper_control.set_known_external_ip(None)


# --- the child process, in a namespace of its own (nothing it sends can leave it) -----------


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace (CI runs as root)")
    with network_namespace("hp-keeper") as name:
        yield name


DRIVE = """
import json, os, sys, time
from homeport.agent.mapping_keeper_control import KeeperChild
plan = json.dumps({"gateway": "127.0.0.1", "mappings": [{"protocol": "tcp",
    "internal_port": 8080, "external_port": 8080, "lease": 60, "method": "natpmp",
    "keep": False, "description": "homeport"}]})
child = KeeperChild(plan)
time.sleep(1.5)
if sys.argv[1] == "stop":
    events = child.stop(limit=10)
else:  # the parent dies: only the lifeline pipe closes
    os.close(child._lifeline)
    events, deadline = [], time.monotonic() + 10
    while time.monotonic() < deadline:
        found, eof = child.read()
        events += found
        if eof:
            break
        time.sleep(0.05)
    child.closed = True
    os.close(child.fd)
    child.reap()
print(json.dumps({"events": [e["kind"] for e in events], "code": child.returncode}))
"""


@pytest.mark.parametrize("how", ["stop", "lifeline"])
def test_keeper_child_stops_on_sigterm_and_when_the_parent_is_gone(netns: str, how: str) -> None:
    """No router answers on 127.0.0.1: the keeper keeps trying; either way of stopping ends
    it at once and cleanly (exit 0, 'stopped' last)."""
    result = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", DRIVE, how],
        capture_output=True,
        text=True,
        timeout=60,
        env=homeport_env(),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["code"] == 0, result.stderr
    assert report["events"][-1] == "stopped", report


def test_router_source_without_a_keeper_asks_the_router_once(netns: str) -> None:
    code = (
        "import asyncio\n"
        "from homeport.agent.sources import router\n"
        "from homeport.errors import TransportError\n"
        "try:\n"
        "    asyncio.run(router.ask_router('127.0.0.1', 2.0))\n"
        "except TransportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=homeport_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("the router did not tell its external address"), result.stdout
    assert "natpmp" in result.stdout or "within 2 s" in result.stdout
