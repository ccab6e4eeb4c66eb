"""The kernel's own rtnetlink messages, in a namespace of our own: an IPv4 address is final at
once; an IPv6 address on a link that runs DAD is announced tentative first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.helpers import homeport_env, network_namespace

LISTENER = """
import json, selectors, sys, time
from homeport.io import netlink
sock = netlink.open_socket()
print("ready", flush=True)
sel = selectors.DefaultSelector()
sel.register(sock, selectors.EVENT_READ)
seen = []
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    for _ in sel.select(0.1):
        seen += [[e.kind, e.family, e.tentative] for e in netlink.drain(sock)]
print(json.dumps(seen), flush=True)
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace (CI runs as root)")
    with network_namespace("hp-nl") as name:
        yield name


def test_kernel_events_parse(netns: str) -> None:
    ip("-n", netns, "link", "add", "hpa", "type", "veth", "peer", "name", "hpb")
    for dev in ("hpa", "hpb"):  # no link-local addresses: only ours make events
        ip("-n", netns, "link", "set", dev, "addrgenmode", "none")
    for dev in ("lo", "hpa", "hpb"):
        ip("-n", netns, "link", "set", dev, "up")
    listener = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", LISTENER, "3"],
        stdout=subprocess.PIPE,
        text=True,
        env=homeport_env(),
    )
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "ready"
        ip("-n", netns, "addr", "add", "192.0.2.7/24", "dev", "hpa")
        ip("-n", netns, "addr", "add", "2001:db8:5::7/64", "dev", "hpa")
        out, _ = listener.communicate(timeout=20)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    events = json.loads(out)
    assert ["new", 2, False] in events
    # DAD runs on a veth (RFC 4862 §5.4): first tentative, then final when it passes (~1 s).
    v6 = [e for e in events if e[1] == 10 and e[0] == "new"]
    assert [v6[0][2], v6[-1][2]] == [True, False], events
