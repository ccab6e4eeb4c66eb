"""ddclient.conf options become each provider's settings (drop-in ddclient configs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeport import providers
from homeport.errors import ConfigError

SECRET = "TopSecret-Value-123"
# (protocol=, the host's ddclient options, expected settings values)
CASES: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("dyndns2", {"server": "members.dyndns.org", "ssl": "yes", "login": "bob",
                 "password": SECRET, "script": "/nic/update", "daemon": "600", "use": "web"},
     {"server": "members.dyndns.org", "ssl": True, "login": "bob", "path": "/nic/update"}),
    ("noip", {"login": "team:bob", "password": SECRET}, {"login": "team:bob"}),
    ("duckdns", {"password": SECRET}, {}),
    ("freedns", {"login": "alice", "password": SECRET}, {"login": "alice"}),
    ("cloudflare", {"login": "token", "password": SECRET, "zone": "example.com", "ttl": "1"},
     {"zone": "example.com", "ttl": 1}),
    ("porkbun", {"apikey": SECRET, "secretapikey": SECRET, "root-domain": "example.com"},
     {"zone": "example.com"}),
    ("namecheap", {"login": "example.com", "password": SECRET}, {"zone": "example.com"}),
    ("gandi", {"password": SECRET, "zone": "example.fr", "use-personal-access-token": "yes"},
     {"zone": "example.fr", "auth_scheme": "Bearer"}),
    ("gandi", {"password": SECRET, "zone": "example.fr"}, {"auth_scheme": "Apikey"}),
    ("digitalocean", {"password": SECRET, "zone": "example.com"}, {"zone": "example.com"}),
    ("godaddy", {"login": "KEY", "password": SECRET, "zone": "example.com", "ttl": "600"},
     {"zone": "example.com", "ttl": 600}),
    ("dnsexit2", {"password": SECRET, "zone": "example.net", "ttl": "5"}, {"zone": "example.net"}),
]  # fmt: skip


@pytest.mark.parametrize(("protocol", "options", "expected"), CASES, ids=[c[0] for c in CASES])
def test_ddclient_options(protocol: str, options: dict[str, str], expected: dict[str, Any]) -> None:
    cls = providers.get(protocol)
    settings = cls.settings_from_ddclient(options)
    for field, value in expected.items():
        assert getattr(settings, field) == value
    secrets = [
        v.get_secret_value() for v in vars(settings).values() if hasattr(v, "get_secret_value")
    ]
    assert SECRET in secrets
    assert SECRET not in repr(settings)


def test_nsupdate_reads_the_bind_key_file(tmp_path: Path) -> None:
    key = tmp_path / "ddns.key"
    key.write_text(
        'key "ddns-key" {\n  algorithm HMAC-MD5.SIG-ALG.REG.INT;\n  secret "c2VjcmV0";\n};\n'
    )
    cls = providers.get("nsupdate")
    settings = cls.settings_from_ddclient(
        {"server": "127.0.0.1", "zone": "dyn.example", "password": str(key),
         "login": "/usr/bin/nsupdate", "ttl": "60"}
    )  # fmt: skip
    assert (settings.key_name, settings.key_algorithm, settings.ttl) == ("ddns-key", "hmac-md5", 60)  # type: ignore[attr-defined]
    assert settings.key_secret.get_secret_value() == "c2VjcmV0"  # type: ignore[attr-defined]


def test_an_unreadable_key_file_is_one_config_line(tmp_path: Path) -> None:
    cls = providers.get("nsupdate")
    with pytest.raises(ConfigError, match="password: cannot read TSIG key file"):
        cls.settings_from_ddclient(
            {"server": "127.0.0.1", "zone": "z", "password": str(tmp_path / "nope")}
        )


def test_problems_name_the_ddclient_option_and_never_the_value() -> None:
    cls = providers.get("godaddy")
    with pytest.raises(ConfigError) as caught:
        cls.settings_from_ddclient({"login": SECRET, "ttl": "not-a-number"})
    problems = caught.value.problems
    assert any(p.startswith("password:") for p in problems)  # our "secret" is ddclient's password
    assert any(p.startswith("ttl:") for p in problems)
    assert SECRET not in str(caught.value)
    assert all(SECRET not in p for p in problems)
