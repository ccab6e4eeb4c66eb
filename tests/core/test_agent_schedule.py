"""The daemon's timers over injected time: tables for each decision, and a simulated daemon
driven through random sequences of events (hypothesis) for the properties that hold always."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeport.core.agent_schedule import (
    EVENT_CYCLE,
    MIN_WAIT,
    RESTART_MAX,
    RESTART_MIN,
    RESTART_RESET,
    SCHEDULED_CYCLE,
    AgentSchedule,
    RestartBackoff,
    next_cycle_at,
)
from homeport.core.eventbudget import EVENT_BURST

WALL = 1_700_000_000.0  # the wall clock at monotonic 0 in these tests


@pytest.mark.parametrize(
    ("interval", "next_due", "expected"),
    [
        (300.0, None, 300.0),  # nothing due sooner: the interval
        (300.0, WALL + 40.0, 40.0),  # a host's retry comes first
        (300.0, WALL + 900.0, 300.0),  # a refresh later than the interval waits for it
        (300.0, WALL - 50.0, MIN_WAIT),  # overdue: soon, but never a spin
        (300.0, WALL + 0.2, MIN_WAIT),
    ],
)
def test_next_cycle_is_the_interval_or_the_earliest_host(
    interval: float, next_due: float | None, expected: float
) -> None:
    assert next_cycle_at(10.0, WALL, interval, next_due) == 10.0 + expected


def test_a_burst_of_events_runs_one_cycle_after_the_settle() -> None:
    schedule = AgentSchedule(next_cycle=3600.0, event_gap=0.0)
    assert schedule.event(100.0, 0.3, 0.0)
    assert not schedule.event(100.01, 0.3, 0.0)  # merged: the same cycle sees it
    assert not schedule.event(100.2, 0.25, 0.0)
    assert schedule.event_at == pytest.approx(100.3)
    assert schedule.due(100.29) is None
    assert schedule.due(100.3) == EVENT_CYCLE
    schedule.cycle_ran(101.0, WALL + 101.0, 3600.0, None)
    assert schedule.event_at is None
    assert schedule.due(200.0) is None  # nothing left over from the burst
    assert schedule.event(200.0, 0.3, 0.0)  # the next change is news again


def test_events_past_the_burst_wait_for_the_gap() -> None:
    schedule = AgentSchedule(next_cycle=3600.0)
    now = 0.0
    for _ in range(int(EVENT_BURST)):
        assert schedule.event(now, 0.25, 30.0)
        assert schedule.due(now + 0.25) == EVENT_CYCLE
        schedule.cycle_ran(now + 1, WALL + now + 1, 3600.0, None)
        now += 2.0
    assert schedule.event(now, 0.25, 30.0)
    assert schedule.event_at is not None
    assert schedule.event_at > now + 20
    assert schedule.due(now + 0.25) is None


def test_an_event_cycle_goes_before_a_scheduled_one() -> None:
    schedule = AgentSchedule(next_cycle=10.0)
    schedule.event(9.0, 0.5, 0.0)
    assert schedule.due(10.0) == EVENT_CYCLE
    schedule.cycle_ran(10.0, WALL + 10.0, 300.0, None)
    assert schedule.due(10.0) is None
    assert schedule.due(310.0) == SCHEDULED_CYCLE


@pytest.mark.parametrize(
    ("next_cycle", "now", "watchdog", "expected"),
    [
        (100.0, 40.0, None, 60.0),
        (100.0, 40.0, 0.2, 0.2),  # woken to ping the watchdog
        (100.0, 150.0, None, 0.0),  # overdue: at once
        (100.0, 150.0, 0.2, 0.0),
    ],
)
def test_timeout_is_the_earliest_timer_capped_by_the_watchdog(
    next_cycle: float, now: float, watchdog: float | None, expected: float
) -> None:
    assert AgentSchedule(next_cycle=next_cycle).timeout(now, watchdog) == expected


def test_a_dead_child_is_restarted_once_at_its_time() -> None:
    schedule = AgentSchedule(next_cycle=3600.0)
    schedule.restart_child_at(12.0)
    assert schedule.timeout(10.0, None) == 2.0
    assert not schedule.restart_due(11.9)
    assert schedule.restart_due(12.0)
    assert not schedule.restart_due(13.0)  # once per death


def test_a_child_stopped_on_purpose_is_never_restarted() -> None:
    """What tests/agent/test_daemon.py once proved by sleeping 3 s: [[mapping]] removed on
    SIGHUP while a restart was pending, and no start ever follows."""
    schedule = AgentSchedule(next_cycle=3600.0)
    schedule.restart_child_at(12.0)
    schedule.child_stopped()
    assert schedule.timeout(10.0, None) == 3590.0  # no wake for it
    for now in (12.0, 20.0, 600.0, 10_000.0):
        assert not schedule.restart_due(now)


def test_restart_backoff_doubles_caps_and_resets_after_a_healthy_run() -> None:
    backoff = RestartBackoff()
    delays = []
    now = 0.0
    for _ in range(12):
        backoff.started(now)
        delays.append(backoff.exited(now + 1))
        now += 1 + delays[-1]
    assert delays[:4] == [RESTART_MIN, 2 * RESTART_MIN, 4 * RESTART_MIN, 8 * RESTART_MIN]
    assert max(delays) == RESTART_MAX
    backoff.started(now)
    assert backoff.exited(now + RESTART_RESET) == RESTART_MIN
    # A child that could not even start counts as a death too.
    assert backoff.exited(now + RESTART_RESET + 1) == 2 * RESTART_MIN


# --- a simulated daemon ---------------------------------------------------------------------

INTERVAL = 300.0
SETTLE = 0.3
WATCHDOG = 5.0


@dataclass
class Daemon:
    """The supervisor's loop over virtual time, applying the schedule's decisions."""

    gap: float
    cycle_length: float
    now: float = 0.0
    wakes: list[float] = field(default_factory=list)
    cycles: list[tuple[float, str]] = field(default_factory=list)  # (start, kind)
    restarts: int = 0
    child_alive: bool = True
    restart_pending: float | None = None  # the model: when a restart was asked for
    schedule: AgentSchedule = field(init=False)

    def __post_init__(self) -> None:
        self.schedule = AgentSchedule(next_cycle=0.0, event_gap=self.gap)
        self.schedule.cycle_ran(self.now, WALL + self.now, INTERVAL, None)

    def run_until(self, until: float) -> None:
        """Wait on the selector until ``until`` (an input arrives then), waking for timers."""
        while True:
            timeout = self.schedule.timeout(self.now, WATCHDOG)
            assert 0 <= timeout <= WATCHDOG
            if self.now + timeout > until:
                self.now = max(self.now, until)  # a cycle may have run past it
                self.wakes.append(self.now)  # the loop goes round (and pings) for the input
                return
            self.now += timeout
            self.wakes.append(self.now)
            self.wake(for_watchdog=timeout == WATCHDOG)

    def wake(self, *, for_watchdog: bool) -> None:
        acted = False
        if self.schedule.restart_due(self.now):
            assert self.restart_pending is not None, "restarted a child nobody asked for"
            assert self.now >= self.restart_pending
            self.restart_pending = None
            self.restarts += 1
            self.child_alive = True
            acted = True
        kind = self.schedule.due(self.now)
        if kind is not None:
            self.cycles.append((self.now, kind))
            self.now += self.cycle_length
            self.schedule.cycle_ran(self.now, WALL + self.now, INTERVAL, None)
            acted = True
        # Never a spin: a wake that does nothing was for the watchdog (or a rounding hair
        # short of its timer).
        assert acted or for_watchdog or self.schedule.wake_at() - self.now < 1e-6

    def event(self) -> None:
        self.schedule.event(self.now, SETTLE, self.gap)

    def child_died(self) -> None:
        if self.child_alive:
            self.child_alive = False
            self.restart_pending = self.now + RESTART_MIN
            self.schedule.restart_child_at(self.now + RESTART_MIN)

    def child_stopped(self) -> None:
        self.child_alive = False
        self.restart_pending = None
        self.schedule.child_stopped()


STEPS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=400.0, allow_nan=False),
        st.sampled_from(["event", "event", "child-died", "child-stopped", "nothing"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    steps=STEPS,
    gap=st.sampled_from([0.0, 30.0]),
    cycle_length=st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
)
def test_simulated_daemon_over_random_time_sequences(
    steps: list[tuple[float, str]], gap: float, cycle_length: float
) -> None:
    daemon = Daemon(gap=gap, cycle_length=cycle_length)
    events: list[float] = []
    for delay, kind in steps:
        daemon.run_until(daemon.now + delay)
        if kind == "event":
            events.append(daemon.now)
            daemon.event()
        elif kind == "child-died":
            daemon.child_died()
        elif kind == "child-stopped":
            daemon.child_stopped()
    daemon.run_until(daemon.now + INTERVAL + RESTART_MAX + gap + 10)

    # Every restart asked for happened (and none other: see Daemon.wake).
    assert daemon.restart_pending is None
    starts = [start for start, _ in daemon.cycles]
    # The daemon wakes (and pings the watchdog) at least every WATCHDOG seconds, a running
    # cycle aside; cycles never overlap.
    for before, after in zip([0.0, *daemon.wakes], daemon.wakes, strict=False):
        assert after - before <= WATCHDOG + cycle_length + 1e-9
    assert starts == sorted(starts)
    # The interval holds both ways: a scheduled cycle never comes sooner than INTERVAL after
    # the previous cycle ended, and no cycle comes later than that.
    ends = [0.0] + [start + cycle_length for start in starts]
    for (start, kind), previous_end in zip(daemon.cycles, ends, strict=False):
        assert start <= previous_end + INTERVAL + 1e-6
        if kind == SCHEDULED_CYCLE:
            assert start >= previous_end + INTERVAL - 1e-6
    # Every event is looked at by a cycle that starts after it, within settle + gap.
    for seen in events:
        later = [start for start in starts if start >= seen]
        assert later, f"event at {seen} never answered"
        assert later[0] <= seen + SETTLE + gap + cycle_length + 1e-6
    # An event cycle runs no sooner than the settle after an event, and a burst runs one
    # cycle, not one per event.
    event_cycles = [start for start, kind in daemon.cycles if kind == EVENT_CYCLE]
    assert len(event_cycles) <= len(events)
    for start in event_cycles:
        assert any(seen + SETTLE <= start + 1e-6 for seen in events)
    # The event budget: past the burst, one event cycle per gap.
    if gap:
        for index, start in enumerate(event_cycles):
            window = [s for s in event_cycles[index:] if s < start + 2 * gap]
            assert len(window) <= EVENT_BURST + 2
