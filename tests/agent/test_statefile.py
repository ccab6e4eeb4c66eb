from __future__ import annotations

import os
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from homeport.agent.files import ROOT_STATE_DIR, default_state_dir
from homeport.agent.statefile import StateFile, write_atomic
from homeport.core import hoststate
from homeport.errors import StoreError


def test_roundtrip_and_mode(tmp_path: Path) -> None:
    store = StateFile(tmp_path / "new" / "dir")
    assert store.load() == {}
    state = hoststate.HostState("h", "abc", hoststate.FamilyState(IPv4Address("192.0.2.1"), 5.0))
    store.save({"h": state})
    assert store.load() == {"h": state}
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]  # no temp left


def test_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    import fcntl

    store = StateFile(tmp_path)
    with store.lock():
        fd = os.open(tmp_path / "agent.lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(tmp_path / "agent.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: free again
    finally:
        os.close(fd)


def test_write_atomic_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "f"
    write_atomic(path, b"old")

    with pytest.raises(TypeError):
        write_atomic(path, "text, not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    store = StateFile(tmp_path)
    store.path.write_text("{not json")
    with pytest.raises(StoreError, match="move it away"):
        store.load()


def test_default_state_dir() -> None:
    assert default_state_dir({"STATE_DIRECTORY": "/var/lib/x:/var/lib/y"}) == Path("/var/lib/x")
    if os.geteuid() == 0:
        assert default_state_dir({}) == ROOT_STATE_DIR
    else:
        assert default_state_dir({"XDG_STATE_HOME": "/s"}) == Path("/s/homeport")
