"""When a certificate is renewed: a third of its lifetime left, ARI first, failures wait."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from homeport.core.certrenew import RETRY_AFTER_FAILURE, Current, decide

DAY = 86400.0
NAMES = frozenset({"home.example.org", "*.home.example.org"})
T0 = 1_800_000_000.0
NINETY = Current(NAMES, T0, T0 + 90 * DAY)


def test_nothing_on_disk_is_due_at_once() -> None:
    assert decide(None, NAMES, T0).due


def test_a_ninety_day_certificate_renews_at_sixty_days() -> None:
    before = decide(NINETY, NAMES, T0 + 60 * DAY - 1)
    assert not before.due
    assert before.at == T0 + 60 * DAY
    assert decide(NINETY, NAMES, T0 + 60 * DAY).due


def test_a_six_day_certificate_renews_at_four_days() -> None:
    short = Current(NAMES, T0, T0 + 6 * DAY)
    assert not decide(short, NAMES, T0 + 4 * DAY - 1).due
    assert decide(short, NAMES, T0 + 4 * DAY).due


def test_changed_names_and_expiry_are_due() -> None:
    assert decide(NINETY, {"home.example.org"}, T0 + DAY).reason == "the names changed"
    assert decide(NINETY, NAMES, T0 + 91 * DAY).reason == "expired"


def test_ari_time_wins_over_the_third_rule() -> None:
    early = decide(NINETY, NAMES, T0 + 10 * DAY, ari_at=T0 + 10 * DAY)
    assert early.due
    assert "ARI" in early.reason
    later = decide(NINETY, NAMES, T0 + 61 * DAY, ari_at=T0 + 70 * DAY)
    assert not later.due
    assert later.at == T0 + 70 * DAY


def test_a_failed_attempt_waits_before_the_next() -> None:
    failed = T0 + 60 * DAY
    waiting = decide(NINETY, NAMES, failed + 10, last_failure=failed)
    assert not waiting.due
    assert waiting.at == failed + RETRY_AFTER_FAILURE
    assert decide(NINETY, NAMES, failed + RETRY_AFTER_FAILURE, last_failure=failed).due
    assert not decide(None, NAMES, failed + 10, last_failure=failed).due


@given(
    lifetime=st.floats(min_value=3600, max_value=400 * DAY),
    elapsed=st.floats(min_value=0, max_value=1.2),
)
def test_due_exactly_when_a_third_or_less_is_left(lifetime: float, elapsed: float) -> None:
    current = Current(NAMES, T0, T0 + lifetime)
    now = T0 + elapsed * lifetime
    renewal = decide(current, NAMES, now)
    third_left_from = current.not_after - (current.not_after - current.not_before) / 3
    assert renewal.due == (now >= third_left_from)
    if not renewal.due:
        assert renewal.at == third_left_from > now
