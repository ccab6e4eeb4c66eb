"""Pytest fixtures for the namespace lab, importable by any test package's conftest::

    from tests.lab.fixtures import single_lab, cgnat_lab, dmz_lab  # noqa: F401

Each brings its topology up once per module and tears it down afterwards, even on failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.lab.netlab import Lab


def _lab(topology: str) -> Iterator[Lab]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the namespace lab needs root and iproute2 (CI runs it as root)")
    lab = Lab.up(topology)
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def single_lab() -> Iterator[Lab]:
    """home -- router (NAT, miniupnpd, IPv6) -- inet."""
    yield from _lab("single")


@pytest.fixture(scope="module")
def cgnat_lab() -> Iterator[Lab]:
    """home -- router (WAN 100.64.0.2) -- isp (CGNAT) -- inet."""
    yield from _lab("cgnat")


@pytest.fixture(scope="module")
def dmz_lab() -> Iterator[Lab]:
    """Double NAT where the isp forwards everything to the router (modem DMZ host)."""
    yield from _lab("dmz")
