"""What ``homeport map`` remembers between runs: PCP nonces, NAT-PMP/PCP mappings, pinhole IDs.

NAT-PMP and PCP cannot list a router's mappings, a PCP mapping can only be deleted with its
nonce (RFC 6887 §15), and a pinhole only by its UniqueID; so the command line keeps them in
``$HOMEPORT_STATE_DIR/portmap.json`` (default ``$XDG_STATE_HOME/homeport``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from homeport.errors import StoreError
from homeport.portmap.base import Mapping

FILE_NAME = "portmap.json"


def default_dir() -> Path:
    explicit = os.environ.get("HOMEPORT_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "homeport"


class StateFile:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_dir() / FILE_NAME
        self.data: dict[str, Any] = {"nonces": {}, "mappings": {}, "pinholes": {}}
        try:
            loaded = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc
        if isinstance(loaded, dict):
            for key in self.data:
                if isinstance(loaded.get(key), dict):
                    self.data[key] = loaded[key]

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            os.chmod(tmp, 0o600)  # nonces authorise deleting our mappings
            tmp.replace(self.path)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc}") from exc

    # NonceStore
    def get_nonce(self, key: str) -> bytes | None:
        value = self.data["nonces"].get(key)
        return bytes.fromhex(value) if isinstance(value, str) else None

    def set_nonce(self, key: str, nonce: bytes | None) -> None:
        if nonce is None:
            self.data["nonces"].pop(key, None)
        else:
            self.data["nonces"][key] = nonce.hex()

    def record(self, mapping: Mapping) -> None:
        self.data["mappings"][f"{mapping.protocol}/{mapping.external_port}"] = asdict(mapping)

    def forget(self, protocol: str, external_port: int) -> None:
        self.data["mappings"].pop(f"{protocol}/{external_port}", None)

    def mapping(self, protocol: str, external_port: int) -> Mapping | None:
        raw = self.data["mappings"].get(f"{protocol}/{external_port}")
        return Mapping(**raw) if isinstance(raw, dict) else None

    def mappings(self) -> list[Mapping]:
        return [Mapping(**raw) for raw in self.data["mappings"].values() if isinstance(raw, dict)]

    def set_pinhole(self, protocol: str, port: int, unique_id: int | None) -> None:
        if unique_id is None:
            self.data["pinholes"].pop(f"{protocol}/{port}", None)
        else:
            self.data["pinholes"][f"{protocol}/{port}"] = unique_id

    def pinhole(self, protocol: str, port: int) -> int | None:
        value = self.data["pinholes"].get(f"{protocol}/{port}")
        return value if isinstance(value, int) else None
