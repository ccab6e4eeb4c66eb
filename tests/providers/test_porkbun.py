"""Porkbun: retrieve, edit or create, and every documented error."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.porkbun import PorkbunFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

APIKEY, SECRET = "pk1_0123456789abcdef", "sk1_fedcba9876543210"
V4, V6 = IPv4Address("198.51.100.77"), IPv6Address("2001:db8:77::1")
HOST = "www.example.com"


def make(apikey: str = APIKEY) -> MakeProvider:
    cls = providers.get("porkbun")
    return lambda url: cls(
        cls.Settings(base_url=f"{url}/api/json/v3", apikey=apikey, secretapikey=SECRET)
    )


def fake(content: str = "192.0.2.1") -> PorkbunFake:
    server = PorkbunFake(APIKEY, SECRET, {"example.com"})
    server.add("example.com", "www", "A", content)
    return server


def test_existing_record_is_edited_by_name_and_type() -> None:
    server = fake()
    results = drive(make(), server, [HostUpdate(HOST, V4)])
    assert (results[0].status, results[0].ipv4) == (Status.GOOD, V4)
    get, edit = server.requests
    assert get.path == "/api/json/v3/dns/retrieveByNameType/example.com/A/www"
    assert edit.path == "/api/json/v3/dns/editByNameType/example.com/A/www"
    assert edit.json == {"apikey": APIKEY, "secretapikey": SECRET, "content": str(V4), "ttl": "600"}
    assert all(s.method == "POST" and s.headers["user-agent"].startswith("homeport")
               for s in server.requests)  # fmt: skip
    assert server.records[0]["content"] == str(V4)


def test_missing_record_is_created_and_apex_uses_an_empty_name() -> None:
    server = fake()
    results = drive(make(), server, [HostUpdate("example.com", ipv6=V6)])
    assert (results[0].status, results[0].ipv6) == (Status.GOOD, V6)
    get, create = server.requests
    assert get.path == "/api/json/v3/dns/retrieveByNameType/example.com/AAAA/"
    assert create.path == "/api/json/v3/dns/create/example.com"
    assert create.json["name"] == ""
    assert create.json["type"] == "AAAA"


CODES = [
    ("good", Status.GOOD, APIKEY, HOST, [], 2),
    ("nochg", Status.NOCHG, APIKEY, HOST, ["same"], 1),
    ("badauth", Status.FATAL, "pk1_wrong_key_0000", HOST, [], 1),
    ("badauth", Status.FATAL, APIKEY, "www.example.org", [], 1),
    ("ERROR", Status.FATAL, APIKEY, HOST, ["", "invalid"], 2),
    ("HTTP 503", Status.RETRY, APIKEY, HOST, ["http503"], 1),
]


@pytest.mark.parametrize(
    ("code", "status", "apikey", "host", "forced", "sent"),
    CODES,
    ids=["good", "nochg", "invalid-key", "not-opted-in", "invalid-content", "http503"],
)
def test_every_documented_code(
    code: str, status: Status, apikey: str, host: str, forced: list[str], sent: int
) -> None:
    server = fake(content=str(V4) if "same" in forced else "192.0.2.1")
    forced = [f for f in forced if f != "same"]
    results = drive(make(apikey), server, [HostUpdate(host, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    assert len(server.requests) == sent
    assert_secret_free(result_texts(results), [APIKEY, SECRET, apikey])


def test_dry_run_redacts_keys_in_the_body() -> None:
    texts = dry_run(make()("https://api.porkbun.com"), [HostUpdate(HOST, V4)])
    assert [t.splitlines()[0] for t in texts] == [
        "POST https://api.porkbun.com/api/json/v3/dns/retrieveByNameType/example.com/A/www",
        "POST https://api.porkbun.com/api/json/v3/dns/editByNameType/example.com/A/www",
    ]
    assert '"apikey":"[redacted]","secretapikey":"[redacted]"' in texts[1]
    assert_secret_free(texts, [APIKEY, SECRET])
