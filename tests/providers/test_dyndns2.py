"""dyndns2 and its presets (Dyn, No-IP, Dynu, OVH, homeport) through every documented code."""

from __future__ import annotations

import base64
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from homeport.proto import dyndns2
from homeport.providers.base import Provider
from tests.fakes.dyndns2 import Dyndns2Fake
from tests.providers.support import assert_secret_free, drive, dry_run, result_texts

PASSWORD = "s3cret-pw&x"
V4 = IPv4Address("192.0.2.10")
V6 = IPv6Address("2001:db8::10")
HOST = "host.example.com"

ALL = [code.value for code in dyndns2.Code]
# Each preset's documented codes (module docstrings cite the providers' pages).
DOCUMENTED: dict[str, list[str]] = {
    "dyndns2": ALL,
    "dyn": ALL,
    "noip": ["good", "nochg", "nohost", "badauth", "badagent", "!donator", "abuse", "911"],
    "dynu": ["good", "nochg", "badauth", "notfqdn", "nohost", "numhost", "abuse", "dnserr", "911"],
    "ovh": ["good", "nochg", "badauth", "nohost", "notfqdn", "abuse", "911"],
    "homeport": ALL,
}
NATURAL = {"good", "nochg", "badauth", "notfqdn", "nohost"}  # the fake gives these unasked
EXPECTED = {
    dyndns2.Disposition.FATAL: Status.FATAL,
    dyndns2.Disposition.RETRY: Status.RETRY,
    dyndns2.Disposition.RETRY_SLOW: Status.RETRY_SLOW,
}


def expected_status(code: str) -> Status:
    if code == "good":
        return Status.GOOD
    if code == "nochg":
        return Status.NOCHG
    return EXPECTED[dyndns2.DISPOSITION[dyndns2.Code(code)]]


def maker(name: str, **settings: Any) -> Any:
    cls = providers.get(name)

    def make(url: str) -> Provider:
        values = {"server": url, "login": "user", "password": PASSWORD, **settings}
        return cls(cls.Settings(**values), version="9.9")

    return make


def fake_for(name: str, **kwargs: Any) -> Dyndns2Fake:
    required = {"system": "dyndns"} if name == "ovh" else None
    return Dyndns2Fake(credentials={"user": PASSWORD}, required=required, **kwargs)


CASES = [(name, code) for name, codes in DOCUMENTED.items() for code in codes]


@pytest.mark.parametrize(("name", "code"), CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_every_documented_code(name: str, code: str) -> None:
    records: dict[str, dict[str, str]] = {HOST: {"A": str(V4)} if code == "nochg" else {}}
    fake = fake_for(name, records=records)
    password = "wrong-pw" if code == "badauth" else PASSWORD
    hostname = {"notfqdn": "nodot", "nohost": "other.example.com"}.get(code, HOST)
    forced = [] if code in NATURAL else [code]
    results = drive(maker(name, password=password), fake, [HostUpdate(hostname, V4)], *forced)

    [result] = results
    assert (result.hostname, result.code, result.status) == (hostname, code, expected_status(code))
    assert result.ipv4 == (V4 if result.status in (Status.GOOD, Status.NOCHG) else None)
    [seen] = fake.requests
    assert seen.method == "GET"
    assert seen.path == "/nic/update"
    assert seen.params["hostname"] == hostname
    assert seen.params["myip"] == str(V4)
    assert seen.headers["user-agent"] == "homeport - agent - 9.9"
    assert seen.basic == ("user", password)
    if name == "ovh":
        assert seen.params["system"] == "dyndns"
    if code == "good":
        assert fake.records[HOST]["A"] == str(V4)
    assert_secret_free(result_texts(results), [password, PASSWORD])


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [(500, Status.RETRY, "HTTP 500"), (503, Status.RETRY, "HTTP 503"),
     (401, Status.FATAL, "badauth"), (403, Status.FATAL, "badauth")],
)  # fmt: skip
def test_http_errors_without_a_dyndns2_body(status: int, expected: Status, code: str) -> None:
    results = drive(maker("dyndns2"), fake_for("dyndns2"), [HostUpdate(HOST, V4)], f"http{status}")
    assert (results[0].status, results[0].code) == (expected, code)


def test_a_throttle_is_retried_even_when_the_body_says_abuse() -> None:
    results = drive(maker("homeport"), fake_for("homeport"), [HostUpdate(HOST, V4)], "throttle")
    assert (results[0].status, results[0].code) == (Status.RETRY, "HTTP 429")


def test_noip_ddns_key_credentials() -> None:
    # A DDNS key is a generated user name and password scoped to one host or group.
    fake = Dyndns2Fake(credentials={"k3yusr8xq2": "Zp4kq9LmN2"}, records={HOST: {}})
    make = maker("noip", login="k3yusr8xq2", password="Zp4kq9LmN2")
    results = drive(make, fake, [HostUpdate(HOST, V4)])
    assert (results[0].status, results[0].code) == (Status.GOOD, "good")
    assert fake.requests[0].basic == ("k3yusr8xq2", "Zp4kq9LmN2")


def test_ovh_answers_badauth_with_401() -> None:
    fake = Dyndns2Fake(credentials={"user": PASSWORD}, auth_status=401)
    results = drive(maker("ovh", password="nope"), fake, [HostUpdate(HOST, V4)])
    assert (results[0].status, results[0].code) == (Status.FATAL, "badauth")


def test_an_unknown_answer_is_retried_not_trusted() -> None:
    # "http200" makes the fake answer 200 with the body "200": no dyndns2 word.
    results = drive(maker("dyndns2"), fake_for("dyndns2"), [HostUpdate(HOST, V4)], "http200")
    assert (results[0].status, results[0].code) == (Status.RETRY, "badresponse")


@pytest.mark.parametrize(
    ("name", "params"),
    [("dyn", {"myip": f"{V4},{V6}"}), ("noip", {"myip": f"{V4},{V6}"}),
     ("dynu", {"myip": str(V4), "myipv6": str(V6)}), ("homeport", {"myip": f"{V4},{V6}"})],
)  # fmt: skip
def test_ipv6_style_per_preset(name: str, params: dict[str, str]) -> None:
    fake = fake_for(name)
    results = drive(maker(name), fake, [HostUpdate(HOST, V4, V6)])
    assert results[0].status is Status.GOOD
    assert (results[0].ipv4, results[0].ipv6) == (V4, V6)
    sent = fake.requests[0].params
    assert {k: sent[k] for k in ("myip", "myipv6") if k in sent} == params
    assert fake.records[HOST] == {"A": str(V4), "AAAA": str(V6)}


def test_dynu_ipv6_only_leaves_the_a_record_alone() -> None:
    fake = Dyndns2Fake(credentials={"user": PASSWORD}, records={HOST: {"A": "192.0.2.1"}})
    results = drive(maker("dynu"), fake, [HostUpdate(HOST, ipv6=V6)])
    assert (results[0].status, results[0].ipv4, results[0].ipv6) == (Status.GOOD, None, V6)
    assert fake.requests[0].query[1:] == (("myip", "no"), ("myipv6", str(V6)))
    assert fake.records[HOST] == {"A": "192.0.2.1", "AAAA": str(V6)}


def test_dynu_custom_domain_uses_hostname_and_alias_one_host_at_a_time() -> None:
    names = ["a.example.org", "b.example.org"]
    fake = Dyndns2Fake(credentials={"user": PASSWORD}, records={n: {} for n in names})
    results = drive(maker("dynu", zone="example.org"), fake, [HostUpdate(n, V4) for n in names])
    assert [r.status for r in results] == [Status.GOOD, Status.GOOD]
    assert [(s.params["hostname"], s.params["alias"]) for s in fake.requests] == [
        ("example.org", "a"),
        ("example.org", "b"),
    ]


def test_noip_group_login_sends_the_colon_as_percent_3a() -> None:
    fake = Dyndns2Fake(credentials={"team:alice": PASSWORD})
    results = drive(maker("noip", login="team:alice"), fake, [HostUpdate(HOST, V4)])
    assert results[0].status is Status.GOOD
    assert fake.requests[0].raw_basic_user == "team%3Aalice"


def test_twenty_hosts_per_request_and_results_in_order() -> None:
    names = [f"h{i:02}.example.com" for i in range(25)]
    fake = Dyndns2Fake(credentials={"user": PASSWORD}, records={n: {} for n in names})
    hosts = [HostUpdate(n, V4) for n in names]
    results = drive(maker("dyn"), fake, hosts)
    assert [r.hostname for r in results] == names
    assert all(r.status is Status.GOOD for r in results)
    assert [len(s.params["hostname"].split(",")) for s in fake.requests] == [20, 5]


def test_hosts_with_different_addresses_go_in_separate_requests() -> None:
    fake = Dyndns2Fake(credentials={"user": PASSWORD}, records={"a.example.com": {}, HOST: {}})
    hosts = [HostUpdate("a.example.com", V4), HostUpdate(HOST, IPv4Address("192.0.2.99"))]
    results = drive(maker("dyndns2"), fake, hosts)
    assert [r.ipv4 for r in results] == [V4, IPv4Address("192.0.2.99")]
    assert [s.params["myip"] for s in fake.requests] == [str(V4), "192.0.2.99"]


def test_an_account_error_stops_the_remaining_batches() -> None:
    names = [f"h{i:02}.example.com" for i in range(25)]
    fake = Dyndns2Fake(credentials={"user": PASSWORD}, records={n: {} for n in names})
    results = drive(maker("dyn", password="wrong"), fake, [HostUpdate(n, V4) for n in names])
    assert {(r.status, r.code) for r in results} == {(Status.FATAL, "badauth")}
    assert len(fake.requests) == 1


def test_per_host_lines_map_to_their_hosts() -> None:
    fake = Dyndns2Fake(credentials={"user": PASSWORD}, records={HOST: {"A": str(V4)}})
    hosts = [HostUpdate(HOST, V4), HostUpdate("gone.example.com", V4)]
    results = drive(maker("dyndns2"), fake, hosts)
    assert [(r.code, r.status) for r in results] == [
        ("nochg", Status.NOCHG),
        ("nohost", Status.FATAL),
    ]


def test_dry_run_renders_the_exact_request_with_secrets_redacted() -> None:
    cls = providers.get("dyn")
    provider = cls(cls.Settings(login="user", password=PASSWORD), version="1.0")
    [text] = dry_run(provider, [HostUpdate(HOST, V4, V6)])
    token = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    assert text.splitlines() == [
        f"GET https://members.dyndns.org/nic/update?hostname={HOST}&myip={V4},{V6}",
        "User-Agent: homeport - agent - 1.0",
        "Authorization: [redacted]",
    ]
    assert_secret_free([text], [PASSWORD, token])


def test_settings_never_print_the_password() -> None:
    cls = providers.get("noip")
    settings = cls.Settings(login="user", password=PASSWORD)
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings.model_dump())


def test_ddclient_bare_server_and_ssl_flag() -> None:
    cls = providers.get("dyndns2")
    plain = cls(cls.Settings(server="example.net", ssl=False, login="u", password="long-password"))
    assert dry_run(plain, [HostUpdate(HOST, V4)])[0].startswith("GET http://example.net/nic/")
