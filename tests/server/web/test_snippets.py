"""The set-up snippets read back by homeport's own readers; the history's durations."""

from __future__ import annotations

import configparser
import shlex
from urllib.parse import parse_qs, urlsplit

import pytest

from homeport.agent import config
from homeport.core import totp
from homeport.server.store import AuditEntry
from homeport.server.web import snippets
from homeport.server.web.pages import csrf_token, history_rows
from homeport.server.web.totp import otpauth_uri

HOST = "myhome.dyn.example.net"
SECRET = "s3cr3t_-xyz"


@pytest.mark.parametrize("https", [True, False])
def test_ddclient_and_agent_snippets_read_back(https: bool) -> None:
    target = snippets.Target("dyn.example.net:8245", https, HOST, SECRET)
    for text, ddclient in (
        (snippets.ddclient(target).text, True),
        (snippets.agent(target).text, False),
    ):
        agent = config.load("snippet", ddclient=ddclient, text=text)
        (provider,) = agent.providers
        settings = provider.settings
        assert provider.hosts == (HOST,)
        assert (settings.server, settings.ssl, settings.login) == (
            "dyn.example.net:8245",
            https,
            HOST,
        )  # type: ignore[attr-defined]
        assert settings.password.get_secret_value() == SECRET  # type: ignore[attr-defined]
    ddclient_text = snippets.ddclient(target).text
    scheme = "https" if https else "http"
    assert (
        f"use=web, web={scheme}://dyn.example.net:8245/checkip, web-skip='IP Address'"
        in ddclient_text
    )


def test_snippets_without_the_secret_show_a_placeholder() -> None:
    target = snippets.Target("dyn.example.net", True, HOST, None)
    for snippet in snippets.snippets(target):
        assert snippets.SECRET_PLACEHOLDER in snippet.text
    fields = dict(snippets.router_fields(target))
    assert fields["Password"] == snippets.SECRET_PLACEHOLDER
    assert fields["Update URL"].startswith("https://dyn.example.net/nic/update?hostname=<domain>")


def test_inadyn_sends_each_family_apart() -> None:
    text = snippets.inadyn(snippets.Target("h:1", False, HOST, SECRET)).text
    assert text.count("custom homeport") == 2
    assert "&myip=%i" in text
    assert "&myipv6=%i" in text


def test_history_durations_run_to_the_next_change() -> None:
    entries = [
        AuditEntry("host:x", "update", HOST, "ipv4=192.0.2.2 ipv6=None offline=False", "s", 1000.0),
        AuditEntry(
            "host:x", "update", HOST, "ipv4=192.0.2.1 ipv6=2001:db8::1 offline=False", "s", 100.0
        ),
    ]
    rows = history_rows(entries, now=1000.0 + 3 * 3600 + 60)
    assert [(r.ipv4, r.ipv6, r.lasted) for r in rows] == [
        ("192.0.2.2", "-", "3 h 1 min"),
        ("192.0.2.1", "2001:db8::1", "15 min 0 s"),
    ]


def test_csrf_tokens_belong_to_one_session() -> None:
    assert csrf_token("a") == csrf_token("a")
    assert csrf_token("a") != csrf_token("b")


def test_certificate_snippets_with_and_without_the_keys() -> None:
    key = snippets.TsigKey(HOST + ".", "hmac-sha256", "c2VjcmV0")
    target = snippets.Target("192.0.2.53:8245", True, HOST, SECRET, 5353, key)
    by_title = {s.title: s.text for s in snippets.certificate_snippets(target)}
    ini = configparser.ConfigParser()
    ini.read_string("[certbot]\n" + by_title["certbot rfc2136"])
    assert dict(ini["certbot"]) == {
        "dns_rfc2136_server": "192.0.2.53",
        "dns_rfc2136_port": "5353",
        "dns_rfc2136_name": HOST + ".",
        "dns_rfc2136_secret": "c2VjcmV0",
        "dns_rfc2136_algorithm": "HMAC-SHA256",
    }
    lego = by_title["lego httpreq"]
    env = dict(line.split("=", 1) for line in shlex.split(lego.replace("\\\n", " ")) if "=" in line)
    assert env == {
        "HTTPREQ_ENDPOINT": "https://192.0.2.53:8245",
        "HTTPREQ_USERNAME": HOST,
        "HTTPREQ_PASSWORD": SECRET,
    }
    assert f"-d {HOST} -d '*.{HOST}'" in lego
    assert (
        f"curl -s -u {HOST}:{SECRET} -X POST https://192.0.2.53:8245/register"
        in (by_title["acme.sh acme-dns"])
    )
    caddy = by_title["Caddy"]
    assert 'key "c2VjcmV0"' in caddy
    assert 'server "192.0.2.53:5353"' in caddy
    # No keys known (shown once): placeholders, and a name where certbot wants an address.
    bare = snippets.Target("dyn.example.net", True, HOST, None)
    by_title = {s.title: s.text for s in snippets.certificate_snippets(bare)}
    assert snippets.TSIG_PLACEHOLDER in by_title["certbot rfc2136"]
    assert "takes an IP address" in by_title["certbot rfc2136"]
    assert "dns_rfc2136_port = 53" in by_title["certbot rfc2136"]
    assert snippets.SECRET_PLACEHOLDER in by_title["lego httpreq"]
    assert snippets.TSIG_PLACEHOLDER in by_title["Caddy"]
    assert snippets.Target("[2001:db8::1]:443", True, HOST, None).hostname == "2001:db8::1"


def test_the_otpauth_uri_names_every_parameter() -> None:
    secret = totp.encode_key(b"12345678901234567890")
    uri = otpauth_uri(secret, "alice", "homeport dyn.example.net")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/homeport%20dyn.example.net:alice"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert (query["digits"], query["period"], query["algorithm"]) == (["6"], ["30"], ["SHA1"])
