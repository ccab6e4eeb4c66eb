"""The tunnel client's reconnect policy and mode=auto decision, with time and chance passed in."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from homeport.core import tunnel as t


@pytest.mark.parametrize(
    ("failures", "longest"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 32.0), (7, 60.0), (30, 60.0), (10_000, 60.0)],
)
def test_the_backoff_doubles_from_one_second_and_stops_at_a_minute(
    failures: int, longest: float
) -> None:
    assert t.backoff_delay(failures, 0.0) == longest
    # The jitter only shortens, by at most half: clients cut off together spread out.
    assert t.backoff_delay(failures, 0.999) == pytest.approx(longest * 0.5, rel=0.01)


def test_a_session_that_lived_a_minute_resets_the_backoff() -> None:
    state = t.Reconnect(failures=6)
    state = t.session_up(state, now=1000.0)
    state, delay = t.attempt_failed(state, now=1000.0 + t.BACKOFF_RESET_AFTER, rand=0.0)
    assert state.failures == 0
    assert delay == 0.0  # back at once


def test_a_session_dropped_at_once_still_backs_off() -> None:
    """A relay that welcomes and drops straight away must not be hammered."""
    state = t.Reconnect()
    delays = []
    for step in range(8):
        state = t.session_up(state, now=float(step))
        state, delay = t.attempt_failed(state, now=step + 0.5, rand=0.0)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_failed_attempts_never_give_up() -> None:
    state = t.Reconnect()
    for _ in range(1000):
        state, delay = t.attempt_failed(state, now=0.0, rand=0.5)
        assert 0 < delay <= t.BACKOFF_CAP
    assert state.failures == 1000


def test_the_path_is_dead_after_four_thirds_of_a_heartbeat_of_silence() -> None:
    assert not t.dead(last_heard=100.0, now=140.0, heartbeat=30.0)
    assert t.dead(last_heard=100.0, now=140.1, heartbeat=30.0)


V4 = ip_address


@pytest.mark.parametrize(
    ("mapping", "router", "public", "current", "relay"),
    [
        # CGNAT: the router maps, but its own address is not the public one.
        ("created", V4("100.64.0.2"), V4("198.51.100.7"), False, True),
        ("failed", None, V4("198.51.100.7"), False, True),
        ("no-mapping-possible", V4("198.51.100.7"), V4("198.51.100.7"), False, True),
        # A working mapping on a router that holds the public address: direct.
        ("created", V4("198.51.100.7"), V4("198.51.100.7"), True, False),
        ("renewed", None, V4("198.51.100.7"), True, False),
        # Nothing known yet: keep what we do.
        (None, None, None, True, True),
        (None, None, None, False, False),
    ],
)
def test_auto_relays_only_when_no_direct_path_can_work(
    mapping: str | None, router: object, public: object, current: bool, relay: bool
) -> None:
    decision = t.want_relay(mapping, router, public, current)  # type: ignore[arg-type]
    assert decision.relay is relay, decision.reason


# -- the doctor's relay hop -----------------------------------------------------------------

from homeport.core.doctor import RelayEvidence, Verdict, judge_relay  # noqa: E402


def _relay(**changes: object) -> RelayEvidence:
    base = RelayEvidence("myhome.example.net", "relay.example.net:7443", "http", 888,
                         "127.0.0.1:888", "up", 1796000000.0)  # fmt: skip
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "verdict", "words"),
    [
        ({"through": "198.51.100.1:888", "answered": True, "detail": "HTTP/1.1 200 OK"},
         Verdict.OK, "relay.example.net:7443 (session up since 2026-11-30 00:53:20 UTC)"),
        ({"through": "198.51.100.1:888", "answered": False, "detail": "closed"},
         Verdict.FAIL, "but 198.51.100.1:888: closed"),
        ({"answered": None, "detail": "no address"}, Verdict.WARN, "not checked end to end"),
        ({"state": None}, Verdict.WARN, "no running agent"),
        ({"state": "direct"}, Verdict.OK, "direct path"),
        ({"state": "stopped", "error": "relay refused: badauth"}, Verdict.FAIL, "for good"),
        ({"state": "down", "error": "cannot reach the relay"}, Verdict.FAIL, "is down"),
    ],
)  # fmt: skip
def test_the_relay_hop(changes: dict[str, object], verdict: Verdict, words: str) -> None:
    check = judge_relay(_relay(**changes))
    assert check.hop == "relay"
    assert check.verdict is verdict
    assert words in check.evidence
