"""The provider registry: names, aliases, and what every provider module promises."""

from __future__ import annotations

import importlib
import inspect
import re

import pydantic
import pytest

from homeport import providers
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
