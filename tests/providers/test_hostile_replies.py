"""Whatever a provider answers, a flow ends with one result per host and no secret in it.

Property test over every HTTP provider: each reply in the flow is an arbitrary
status with an arbitrary body (text, JSON of any shape, or the provider's own
success example mangled). A flow may not crash with anything but our own
RemoteProtocolError, and what it returns is one result per host, in order.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeport import providers
from homeport.core.update import HostUpdate
from homeport.errors import RemoteProtocolError
from homeport.providers.base import HttpExchange, HttpReply, Provider
from tests.providers.test_registry import SAMPLES, SECRET

HOSTS = [
    HostUpdate("home.example.com", IPv4Address("203.0.113.5"), IPv6Address("2001:db8::5")),
    HostUpdate("b.example.com", IPv4Address("203.0.113.6")),
]
HTTP_NAMES = sorted(n for n in SAMPLES if n != "rfc2136")

KEYS = ["success", "result", "status", "records", "code", "domain_records", "errors",
        "message", "id", "content", "data", "proxied", "name", "type"]  # fmt: skip
keys = st.sampled_from(KEYS) | st.text(max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
words = st.sampled_from(
    ["good", "nochg", "badauth", "911", "OK", "KO", "SUCCESS", "ERROR", "Updated",
     "<ErrCount>0</ErrCount>", "has not changed", "nohost"]
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=60),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(words, max_size=4).map(lambda ws: "\n".join(ws).encode()),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4).map(
        lambda d: json.dumps(d).encode()
    ),
)  # fmt: skip
statuses = st.sampled_from([200, 200, 201, 204, 301, 400, 401, 403, 404, 409, 422, 429, 500, 503])


def drive_with(provider: Provider, replies: Any) -> list[Any]:
    flow = provider.update(HOSTS)
    try:
        exchange = next(flow)
        for _ in range(50):
            assert isinstance(exchange, HttpExchange)
            exchange = flow.send(HttpReply(replies.draw(statuses), replies.draw(bodies)))
        raise AssertionError("a flow that never ends")
    except StopIteration as done:
        return list(done.value)


@pytest.mark.parametrize("name", HTTP_NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies=st.data())
def test_any_reply_gives_one_result_per_host(name: str, replies: st.DataObject) -> None:
    cls = providers.get(name)
    provider = cls(cls.Settings(**SAMPLES[name]))
    try:
        results = drive_with(provider, replies)
    except RemoteProtocolError:
        return
    assert [r.hostname for r in results] == [h.hostname for h in HOSTS]
    for result in results:
        assert SECRET not in result.message
        assert result.code
