"""The provider registry: names, aliases, and what every provider module promises."""

from __future__ import annotations

import importlib
import inspect
import re
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from urllib.parse import quote

import pydantic
import pytest

from homeport import providers
from homeport.agent import publish
from homeport.core.update import HostUpdate
from homeport.errors import ConfigError
from homeport.providers.base import Provider

CLASSES = sorted({providers.get(n) for n in providers.names()}, key=lambda c: c.name)
# ddclient's protocol= spellings (ddclient 3.10/3.11 docs) that must resolve.
DDCLIENT = ["dyndns2", "noip", "dynu", "ovh", "duckdns", "freedns", "cloudflare", "porkbun",
            "namecheap", "gandi", "digitalocean", "godaddy", "nsupdate"]  # fmt: skip
SECRET_FIELDS = re.compile(r"password|token|key_secret|apikey|secretapikey|^key$|^secret$")


def test_at_least_fifteen_providers() -> None:
    assert len(CLASSES) >= 15
    assert len({c.name for c in CLASSES}) == len(CLASSES)


@pytest.mark.parametrize("name", DDCLIENT)
def test_ddclient_spellings_resolve(name: str) -> None:
    assert issubclass(providers.get(name), Provider)
    assert providers.get(name.upper()) is providers.get(name)


def test_unknown_provider_is_a_config_error_listing_the_known() -> None:
    with pytest.raises(ConfigError, match=r"unknown provider 'nope'; known: .*duckdns"):
        providers.get("nope")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.name)
def test_provider_contract(cls: type[Provider]) -> None:
    module = importlib.import_module(cls.__module__)
    assert module.PROVIDER is cls
    assert providers.get(cls.name) is cls
    doc = inspect.getdoc(module) or ""
    assert re.search(r"https?://|RFC 2136|dyndns2", doc), "docstring cites the documented API"
    fields = cls.Settings.model_fields
    for field_name, field in fields.items():
        if SECRET_FIELDS.search(field_name):
            assert field.annotation in (pydantic.SecretStr, pydantic.SecretStr | None), field_name
    assert {"server", "base_url"} & set(fields), "every endpoint can be pointed at a fake"
    assert cls.Settings.model_config.get("extra") == "forbid"  # a misspelt setting is an error


SECRET = "Sec/ret+val=ue&1"  # needs escaping in URLs and forms
KEY = "c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIzNDU2Nzg5"
SAMPLES: dict[str, dict[str, str]] = {
    "dyndns2": {"login": "u", "password": SECRET},
    "dyn": {"login": "u", "password": SECRET},
    "noip": {"login": "group:u", "password": SECRET},
    "dynu": {"login": "u", "password": SECRET},
    "ovh": {"login": "u", "password": SECRET},
    "homeport": {"server": "https://ddns.example.net", "login": "u", "password": SECRET},
    "he": {"password": SECRET},
    "desec": {"token": SECRET},
    "duckdns": {"token": SECRET},
    "freedns": {"login": "u", "password": SECRET},
    "cloudflare": {"token": SECRET},
    "porkbun": {"apikey": SECRET, "secretapikey": SECRET + "2"},
    "namecheap": {"password": SECRET},
    "gandi": {"token": SECRET},
    "digitalocean": {"token": SECRET},
    "godaddy": {"key": SECRET, "secret": SECRET + "2"},
    "dnsexit2": {"apikey": SECRET},
    "rfc2136": {"server": "192.0.2.53", "zone": "example.com", "key_name": "k", "key_secret": KEY},
}


def test_every_provider_has_a_sample() -> None:
    assert set(SAMPLES) == {c.name for c in CLASSES}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.name)
def test_dry_run_renders_every_step_without_secrets(cls: type[Provider]) -> None:
    provider = cls(cls.Settings(**SAMPLES[cls.name]), version="1.2.3")
    host = HostUpdate("home.example.com", IPv4Address("203.0.113.5"), IPv6Address("2001:db8::5"))
    texts = publish.render(provider, [host])
    assert texts
    for text in texts:
        for secret in (SECRET, quote(SECRET, safe=""), KEY):
            assert secret not in text
        if not text.startswith("DNS "):
            assert "User-Agent: homeport - agent - 1.2.3" in text.splitlines()
    assert SECRET not in repr(provider.settings)


def test_the_provider_guide_covers_every_name_and_setting() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "providers.md").read_text()
    for name in providers.names():
        assert f"`{name}`" in guide, name
    for cls in CLASSES:
        section = guide.split(f"### `{cls.name}`")[1].split("\n### ")[0]
        for field in cls.Settings.model_fields:
            assert f"| `{field}` |" in section, (cls.name, field)
