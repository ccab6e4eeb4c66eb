"""Events run a cycle at once, up to a burst; then one per gap."""

from __future__ import annotations

from homeport.core.eventbudget import EVENT_BURST, EventBudget


def test_a_burst_runs_at_once_then_one_per_gap() -> None:
    budget = EventBudget(gap=30.0)
    now = 100.0
    for _ in range(int(EVENT_BURST)):
        assert budget.when(now, 0.25) == now + 0.25
        budget.spend(now + 0.25)
        now += 1.0
    # Out of tokens: the next has to wait until one is earned back (30 s per token).
    at = budget.when(now, 0.25)
    assert now + 25 < at <= now + 30
    budget.spend(at)
    assert budget.when(at, 0.25) > at + 29
    # After a quiet spell the whole burst is available again.
    quiet = at + 10 * 30.0
    assert budget.when(quiet, 2.0) == quiet + 2.0


def test_no_gap_means_no_limit() -> None:
    budget = EventBudget(gap=0.0)
    for step in range(10):
        assert budget.when(float(step), 0.5) == step + 0.5
        budget.spend(float(step))
