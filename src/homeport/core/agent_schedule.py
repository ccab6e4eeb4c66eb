"""When the agent's daemon wakes up, and what it does then.

The daemon (agent/supervisor.py) waits on a selector for signals, netlink and the mapping
child's events; this module decides everything that depends on time: when the next scheduled
cycle is due, when an event (a local address change, a router event) may run one, when a dead
mapping child is started again, and how long the daemon may sleep before it owes systemd a
watchdog ping. Pure: every method takes ``now`` (monotonic seconds) and, where the state file's
wall-clock deadlines meet it, ``wall`` (``time.time()``); nothing here reads a clock.

Which hosts are due is decided per host in :func:`homeport.core.hoststate.next_due`; the cycle's
child reports the earliest of them (``next_due``, wall clock), and this schedule wakes for it.

Plain classes, not dataclasses: the idle daemon imports this, and its footprint is benchmarked.
"""

from __future__ import annotations

from homeport.core.eventbudget import EventBudget

# Never spin, whatever the schedule says: a due time in the past still waits this long.
MIN_WAIT = 1.0
# What a cycle's summary leaves out falls back to the config's own defaults (agent/schema.py).
DEFAULT_INTERVAL = 300.0
DEFAULT_DEBOUNCE = 2.0
DEFAULT_EVENT_GAP = 30.0

# A mapping child that dies is started again after 1, 2, 4 ... s, at most this long apart: a
# router that is gone for hours must not cost a Python start every second.
RESTART_MIN = 1.0
RESTART_MAX = 300.0
# A child that ran this long was healthy: its next death starts the backoff afresh.
RESTART_RESET = 600.0

# What :meth:`AgentSchedule.due` answers.
EVENT_CYCLE = "event"
SCHEDULED_CYCLE = "scheduled"


def next_cycle_at(now: float, wall: float, interval: float, next_due: float | None) -> float:
    """The monotonic time of the next scheduled cycle, ``interval`` after ``now`` or sooner
    when a host's retry or refresh (``next_due``, wall clock) comes first."""
    due = wall + interval
    if next_due is not None:
        due = min(due, next_due)
    return now + max(MIN_WAIT, due - wall)


def restart_delay(failures: int) -> float:
    """Seconds before starting the mapping child again after ``failures`` (>= 1) deaths."""
    return float(min(RESTART_MAX, RESTART_MIN * 2 ** max(0, failures - 1)))


class RestartBackoff:
    """Consecutive deaths of a long-lived child, and the wait before the next start."""

    def __init__(self) -> None:
        self.failures = 0
        self.started_at: float | None = None

    def started(self, now: float) -> None:
        self.started_at = now

    def exited(self, now: float) -> float:
        """The child died at ``now``: seconds to wait before starting it again."""
        if self.started_at is not None and now - self.started_at >= RESTART_RESET:
            self.failures = 0
        self.failures += 1
        self.started_at = None
        return restart_delay(self.failures)


class AgentSchedule:
    """The daemon's timers: the scheduled cycle, an event's cycle, the child's restart."""

    def __init__(self, next_cycle: float, event_gap: float = DEFAULT_EVENT_GAP) -> None:
        self.next_cycle = next_cycle
        self.event_at: float | None = None  # a cycle for events, once they settled
        self.restart_at: float | None = None  # start the mapping child again
        self.events = EventBudget(gap=event_gap)

    def cycle_ran(self, now: float, wall: float, interval: float, next_due: float | None) -> None:
        """A cycle (scheduled, for events or for a reload) just ended: the events it looked at
        are answered, and the next scheduled one counts from here."""
        self.event_at = None
        self.next_cycle = next_cycle_at(now, wall, interval, next_due)

    def event(self, now: float, settle: float, gap: float) -> bool:
        """An event at ``now`` asks for a cycle ``settle`` seconds later, within the event
        budget (one per ``gap`` after a burst). False if one is already coming: a burst of
        events runs one cycle, which sees all of them."""
        if self.event_at is not None:
            return False
        # A flapping interface must not turn into a checkip poll every few seconds; a
        # scheduled poll just before a change does not count against the change.
        self.events.gap = gap
        self.event_at = self.events.when(now, settle)
        return True

    def restart_child_at(self, when: float) -> None:
        """The mapping child died (or could not start): start it again at ``when``."""
        self.restart_at = when

    def child_stopped(self) -> None:
        """The child was stopped on purpose (a new plan, no mappings, shutdown): no restart."""
        self.restart_at = None

    def wake_at(self) -> float:
        return min(t for t in (self.next_cycle, self.event_at, self.restart_at) if t is not None)

    def timeout(self, now: float, watchdog: float | None) -> float:
        """How long the daemon may wait for I/O: until the earliest timer, and no longer
        than the watchdog interval (it pings on every wake)."""
        wait = max(0.0, self.wake_at() - now)
        return min(wait, watchdog) if watchdog else wait

    def restart_due(self, now: float) -> bool:
        """Is it time to start the dead child again? True once per death."""
        if self.restart_at is None or now < self.restart_at:
            return False
        self.restart_at = None
        return True

    def due(self, now: float) -> str | None:
        """Which cycle runs at ``now``: :data:`EVENT_CYCLE` (spending from the event budget),
        :data:`SCHEDULED_CYCLE`, or None to wait on."""
        if self.event_at is not None and now >= self.event_at:
            self.events.spend(now)
            return EVENT_CYCLE
        if now >= self.next_cycle:
            return SCHEDULED_CYCLE
        return None
