from __future__ import annotations

import stat
from pathlib import Path

import pytest

from homeport.errors import StoreError
from homeport.portmap.base import Mapping
from homeport.portmap.state import StateFile, default_dir


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "portmap.json"
    state = StateFile(path)
    mapping = Mapping("tcp", 8080, "192.168.1.5", 80, 600, "pcp", "web")
    state.record(mapping)
    state.set_nonce("tcp/80", bytes(range(12)))
    state.set_pinhole("tcp", 443, 7)
    state.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = StateFile(path)
    assert again.mapping("tcp", 8080) == mapping
    assert again.mappings() == [mapping]
    assert again.get_nonce("tcp/80") == bytes(range(12))
    assert again.pinhole("tcp", 443) == 7
    again.forget("tcp", 8080)
    again.set_nonce("tcp/80", None)
    again.set_pinhole("tcp", 443, None)
    assert again.mappings() == []
    assert again.get_nonce("tcp/80") is None
    assert again.pinhole("tcp", 443) is None


def test_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "portmap.json"
    path.write_text("{not json")
    with pytest.raises(StoreError):
        StateFile(path)


def test_state_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOMEPORT_STATE_DIR", str(tmp_path))
    assert default_dir() == tmp_path
    monkeypatch.delenv("HOMEPORT_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "x"))
    assert default_dir() == tmp_path / "x" / "homeport"
