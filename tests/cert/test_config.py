"""[[certificate]] in agent.toml: validated with the rest, secrets by reference, clear errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from homeport.agent import config as config_mod
from homeport.errors import ConfigError
from tests.helpers import run_homeport

PROVIDER = """
[[provider]]
protocol = "rfc2136"
label = "bind"
hosts = ["home.example.org"]
server = "127.0.0.1"
zone = "example.org"
key_name = "k"
key_secret = "c2VjcmV0LWtleS0wMTIzNDU2Nzg5"
"""


def load(tmp_path: Path, certificate: str, env: dict[str, str] | None = None) -> object:
    path = tmp_path / "agent.toml"
    path.write_text(PROVIDER + certificate)
    return config_mod.load(path, env=env or {})


def test_an_entry_finds_its_provider_and_reads_its_secret_by_reference(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        '[[certificate]]\nname = "Home.Example.org."\neab_kid = "k1"\n'
        'eab_hmac_key_env = "EAB"\nacme = "letsencrypt-staging"\n',
        env={"EAB": "c2VjcmV0"},
    )
    [entry] = cfg.certificates  # type: ignore[attr-defined]
    assert entry.name == "home.example.org"
    assert entry.eab_hmac_key.get_secret_value() == "c2VjcmV0"
    assert "c2VjcmV0" not in repr(entry)


@pytest.mark.parametrize(
    ("certificate", "problem"),
    [
        ('[[certificate]]\nname = "other.example.net"\n', "certificate[0].name: no [[provider]]"),
        ('[[certificate]]\nname = "h.example.org"\nprovider = "nope"\n', "label 'nope'"),
        ('[[certificate]]\nname = "*.home.example.org"\n', "the wildcard is `wildcard`"),
        ('[[certificate]]\nname = "home.example.org"\nkey_type = "rsa1024"\n', "key_type"),
        ('[[certificate]]\nname = "home.example.org"\nport = 1\n', "unknown setting"),
    ],
)
def test_problems_name_the_line(tmp_path: Path, certificate: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, certificate)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert any(":1" in p.split(": ")[0] or "agent.toml:" in p for p in caught.value.problems)


def test_without_the_cert_extra_the_config_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "acme" else real(name, *a)
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[[certificate]]\nname = "home.example.org"\n')
    assert "pip install 'homeport[cert]'" in str(caught.value.problems)


def test_check_config_reports_a_bad_entry_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(PROVIDER + '[[certificate]]\nname = "other.example.net"\n')
    done = run_homeport("cert", "renew", "--config", str(path))
    assert done.returncode == 78
    assert done.stderr.count("\n") == 1
    assert "no [[provider]] with other.example.net" in done.stderr
