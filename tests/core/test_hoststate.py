"""The state machine with an injected clock: every dyndns2 rule (docs/architecture.md), counted."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from homeport.core import hoststate as hs
from homeport.core.units import DAY, MINUTE
from homeport.core.update import Status, UpdateResult
from tests.helpers import modules_loaded_by

V4 = IPv4Address("203.0.113.10")
V4B = IPv4Address("203.0.113.20")
V6 = IPv6Address("2001:db8::10")
CODES = {
    "good": Status.GOOD,
    "nochg": Status.NOCHG,
    "badauth": Status.FATAL,
    "dnserr": Status.RETRY,
    "911": Status.RETRY_SLOW,
}


class Provider:
    """Counts requests and answers a scripted code."""

    def __init__(self) -> None:
        self.requests: list[hs.Decision] = []
        self.code = "good"

    def run(
        self,
        state: hs.HostState,
        want4: IPv4Address | None,
        now: float,
        want6: IPv6Address | None = None,
        jitter: float = 0.0,
    ) -> hs.HostState:
        state = hs.reconcile(state, "cfg")
        decision = hs.decide(state, want4=want4, want6=want6, now=now)
        if not decision.send:
            return state
        self.requests.append(decision)
        result = UpdateResult(state.hostname, CODES[self.code], self.code)
        return hs.apply(state, decision, result, now=now, jitter=jitter)


def test_unchanged_ip_never_resent_across_runs() -> None:
    provider = Provider()
    state = hs.HostState("h.example.org")
    for minute in range(0, 24 * 60 * 10, 5):  # ten days of 5-minute polls
        state = provider.run(state, V4, minute * MINUTE)
        state = hs.from_json("h.example.org", hs.to_json(state))  # as if persisted
    assert len(provider.requests) == 1


def test_force_sends_unchanged_but_not_past_a_stop_or_backoff() -> None:
    provider = Provider()
    state = provider.run(hs.HostState("h"), V4, 0)
    forced = hs.decide(state, want4=V4, want6=None, now=MINUTE, force=True)
    assert forced.ipv4 == V4
    assert "forced" in forced.reason
    provider.code = "badauth"
    stopped = provider.run(hs.HostState("s"), V4, 0)
    assert not hs.decide(stopped, want4=V4, want6=None, now=MINUTE, force=True).send
    provider.code = "911"
    slowed = provider.run(hs.HostState("b"), V4, 0)
    assert not hs.decide(slowed, want4=V4, want6=None, now=MINUTE, force=True).send


def test_a_change_is_sent_once() -> None:
    provider = Provider()
    state = provider.run(hs.HostState("h"), V4, 0)
    for t in range(1, 50):
        state = provider.run(state, V4B, t * MINUTE)
    assert [d.ipv4 for d in provider.requests] == [V4, V4B]
    assert state.ipv4.address == V4B


def test_nochg_is_accepted_once() -> None:
    provider = Provider()
    provider.code = "nochg"
    state = hs.HostState("h")
    for t in range(20):
        state = provider.run(state, V4, t * MINUTE)
    assert len(provider.requests) == 1


def test_badauth_stops_the_host_even_when_the_ip_changes() -> None:
    provider = Provider()
    provider.code = "badauth"
    state = provider.run(hs.HostState("h"), V4, 0)
    for t in range(1, 100):
        state = provider.run(state, V4B, t * DAY)
    assert len(provider.requests) == 1
    assert state.disabled_code == "badauth"


def test_fatal_cleared_when_the_hosts_config_changes() -> None:
    state = hs.HostState("h", config_hash="old", disabled_code="badauth")
    assert not hs.decide(state, want4=V4, want6=None, now=0).send
    fresh = hs.reconcile(state, "new")
    assert hs.decide(fresh, want4=V4, want6=None, now=0).send
    assert hs.reconcile(state, "old") is state


def test_911_no_retry_within_30_minutes() -> None:
    provider = Provider()
    provider.code = "911"
    state = provider.run(hs.HostState("h"), V4, 0)
    for second in range(1, 30 * 60, 10):
        state = provider.run(state, V4B if second % 20 else V4, float(second))
    assert len(provider.requests) == 1
    assert state.retry_at is not None
    assert state.retry_at >= hs.RETRY_AFTER_911
    provider.code = "good"
    state = provider.run(state, V4, state.retry_at)
    assert len(provider.requests) == 2


def test_transient_errors_back_off_exponentially_with_jitter() -> None:
    state = hs.HostState("h", "cfg")
    delays = []
    for _ in range(12):
        decision = hs.Decision("h", V4, None, "")
        result = UpdateResult("h", Status.RETRY, "dnserr")
        state = hs.apply(state, decision, result, now=0, jitter=0.0)
        assert state.retry_at is not None
        delays.append(state.retry_at)
    assert delays[:3] == [5 * MINUTE, 10 * MINUTE, 20 * MINUTE]
    assert delays[-1] == hs.DEFAULT_RETRY_MAX
    jittered = hs.apply(
        hs.HostState("h"),
        hs.Decision("h", V4, None, ""),
        UpdateResult("h", Status.RETRY, "HTTP 503"),
        now=0,
        jitter=0.999,
    )
    assert jittered.retry_at is not None
    assert 5 * MINUTE < jittered.retry_at <= 5 * MINUTE * (1 + hs.JITTER_SPREAD)


def test_refresh_after_25_days() -> None:
    provider = Provider()
    state = hs.HostState("h")
    for hour in range(24 * 60):  # sixty days, hourly
        state = provider.run(state, V4, hour * 3600.0)
    sent_at = [d.ipv4 for d in provider.requests]
    assert len(sent_at) == 3  # day 0, day 25, day 50
    assert "refresh" in provider.requests[1].reason


def test_families_are_tracked_separately() -> None:
    provider = Provider()
    state = provider.run(hs.HostState("h"), V4, 0, want6=V6)
    assert (provider.requests[0].ipv4, provider.requests[0].ipv6) == (V4, V6)
    state = provider.run(state, V4B, 60, want6=V6)
    assert (provider.requests[1].ipv4, provider.requests[1].ipv6) == (V4B, None)
    v6b = IPv6Address("2001:db8::20")
    state = provider.run(state, V4B, 120, want6=v6b)
    assert (provider.requests[2].ipv4, provider.requests[2].ipv6) == (None, v6b)
    # an unknown family (detection failed) is left alone, not cleared
    state = provider.run(state, None, 180, want6=v6b)
    assert len(provider.requests) == 3
    assert state.ipv4.address == V4B


def test_provider_reported_address_is_stored() -> None:
    state = hs.apply(
        hs.HostState("h"),
        hs.Decision("h", V4, None, ""),
        UpdateResult("h", Status.GOOD, "good", ipv4=V4B),
        now=5,
        jitter=0,
    )
    assert state.ipv4 == hs.FamilyState(V4B, 5)


def test_json_roundtrip_and_next_due() -> None:
    state = hs.HostState(
        "h",
        "x",
        hs.FamilyState(ip_address("203.0.113.1"), 10.0),
        failures=2,
        retry_at=99.0,
        last_code="dnserr",
    )
    assert hs.from_json("h", hs.to_json(state)) == state
    assert hs.next_due(state) == 99.0
    calm = hs.HostState("h", ipv4=hs.FamilyState(V4, 10.0))
    assert hs.next_due(calm) == 10.0 + hs.DEFAULT_REFRESH
    assert hs.from_json("h", {"ipv4": "garbage", "retry_at": "x"}) == hs.HostState("h")


def test_the_state_machine_loads_no_provider_code() -> None:
    # Pure decisions must not pull the provider modules, nor pydantic through their settings.
    watched = ["homeport.providers", "pydantic"]
    assert modules_loaded_by("import homeport.core.hoststate", watched) == []
