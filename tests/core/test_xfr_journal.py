"""The IXFR journal: steps, merging within one serial, bounds, and when it cannot answer."""

from __future__ import annotations

from homeport.core.xfr_journal import Journal, Step, diff

Z = b"\x03dyn\x00"
A1 = (b"\x01a" + Z, 1, 60, b"\xc0\x00\x02\x01")
A2 = (b"\x01a" + Z, 1, 60, b"\xc0\x00\x02\x02")
B1 = (b"\x01b" + Z, 1, 60, b"\xc0\x00\x02\x01")


def test_steps_chain_and_answer_from_any_serial_they_hold() -> None:
    j = Journal(10)
    j.record(Z, 1, 2, [], [A1])
    j.record(Z, 2, 3, [A1], [A2])
    assert j.since(Z, 1) == [Step(1, 2, (), (A1,)), Step(2, 3, (A1,), (A2,))]
    assert j.since(Z, 2) == [Step(2, 3, (A1,), (A2,))]
    assert j.since(Z, 3) is None  # current: the caller answers with the SOA alone
    assert j.since(Z, 7) is None  # unknown serial: AXFR


def test_changes_under_one_serial_merge_into_one_step() -> None:
    j = Journal(10)
    j.record(Z, 1, 2, [], [A1])
    j.record(Z, 2, 2, [], [B1])  # the same group commit
    j.record(Z, 2, 2, [A1], [A2])  # added then replaced within the step: never seen
    assert j.since(Z, 1) == [Step(1, 2, (), (B1, A2))]


def test_the_journal_is_bounded_and_older_serials_get_none() -> None:
    j = Journal(3)
    for serial in range(1, 10):
        j.record(Z, serial, serial + 1, [], [])
    assert j.since(Z, 6) is None  # fell off: AXFR
    steps = j.since(Z, 7)
    assert steps is not None
    assert [s.old_serial for s in steps] == [7, 8, 9]


def test_a_gap_or_a_reload_forgets_the_history() -> None:
    j = Journal(10)
    j.record(Z, 1, 2, [], [A1])
    j.record(Z, 5, 6, [], [A2])  # changed outside the journal between 2 and 5
    assert j.since(Z, 1) is None
    assert j.since(Z, 5) is not None
    j.reset(Z)
    assert j.since(Z, 5) is None


def test_listeners_hear_every_change() -> None:
    j = Journal(10)
    heard: list[bytes] = []
    j.listeners.append(heard.append)
    j.record(Z, 1, 2, [], [A1])
    j.reset(Z)
    assert heard == [Z, Z]


def test_diff_treats_a_ttl_change_as_remove_and_add() -> None:
    longer = (A1[0], A1[1], 300, A1[3])
    assert diff([A1, B1], [longer, B1]) == ([A1], [longer])
