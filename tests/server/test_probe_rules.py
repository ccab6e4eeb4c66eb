"""The probe's rules on their own: which targets it refuses, which names and paths it takes.

No connection is made to any address here (the own-address check binds a socket,
inside a network namespace of the test's own); the live side is test_probe_attacks.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from ipaddress import IPv4Network, ip_address

import pytest

from homeport.errors import UsageError
from homeport.server.probe import ProbeRequest, parse_server_name, target_refusal
from tests.helpers import homeport_env, network_namespace
from tests.server.test_probe_attacks import BAD_NAMES


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "private or reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "private or reserved"),  # documentation (TEST-NET-1)
        ("2001:db8::1", "private or reserved"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a01:203", "private"),  # NAT64 of 10.1.2.3
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of 169.254.169.254
    ],
)
def test_non_public_targets_are_refused(address: str, kind: str) -> None:
    refusal = target_refusal(ip_address(address))
    assert refusal is not None
    assert kind in refusal


def test_public_and_lab_targets_are_allowed() -> None:
    # Public addresses (the probe never connects here: only the rule is checked).
    assert target_refusal(ip_address("8.8.8.8")) is None
    assert target_refusal(ip_address("2606:4700:4700::1111")) is None
    lab = [IPv4Network("127.0.0.0/8"), IPv4Network("203.0.113.0/24")]
    assert target_refusal(ip_address("127.0.0.1"), lab) is None  # the server's own, in a lab
    assert target_refusal(ip_address("203.0.113.9"), lab) is None
    assert target_refusal(ip_address("10.0.0.1"), lab) is not None


OWN_CHECK = """
from ipaddress import ip_address
from homeport.server.probe import target_refusal
print(target_refusal(ip_address("{own}")))
print(target_refusal(ip_address("{other}")))
"""


def test_the_servers_own_public_address_is_refused() -> None:
    """In a namespace of this test's own, lo holds a public address: the probe refuses it."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    own, other = "100.128.0.1", "100.128.0.2"  # just past CGNAT's 100.64.0.0/10: public
    with network_namespace("hp-own") as netns:
        subprocess.run(
            ["ip", "-n", netns, "addr", "add", f"{own}/32", "dev", "lo"],
            check=True,
            capture_output=True,
        )
        result = subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, "-c",
             OWN_CHECK.format(own=own, other=other)],
            capture_output=True,
            text=True,
            env=homeport_env(),
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"the probe does not connect to the server itself ({own})",
        "None",  # binding is how ownership is checked: nothing is sent anywhere
    ]


def test_names_and_paths_parse() -> None:
    assert parse_server_name("Example.COM.") == "Example.COM"
    assert parse_server_name("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert parse_server_name("2001:db8::1") == "2001:db8::1"
    assert parse_server_name("192.0.2.1") == "192.0.2.1"
    assert parse_server_name("a" * 63 + ".example") == "a" * 63 + ".example"
    for name in BAD_NAMES:
        with pytest.raises(UsageError):
            parse_server_name(name)
    with pytest.raises(UsageError):
        ProbeRequest.from_json({"port": 80, "path": "/\x00"})
