"""The journal of zone changes IXFR answers from (RFC 1995), bounded, in memory.

Each entry is one step of a zone's SOA serial, old -> new, with the RRs that
step removed and added. The catalog records a step whenever it changes a name
(:meth:`homeport.core.zone.Catalog.apply_name`); several names changed under
one serial (one group-committed batch) merge into one step. A whole-zone load
(start, zone import) forgets the zone's history: the next IXFR for it gets an
AXFR (RFC 1995 §4 allows a full transfer whenever the server has no diff).

The journal holds at most ``limit`` steps per zone; a secondary further behind
than that gets an AXFR. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# One RR as the journal keeps it: (owner wire name, rdtype, TTL, RDATA wire form).
Rr = tuple[bytes, int, int, bytes]

# BIND's max-journal-size defaults to "unlimited" on disk; in memory we keep the
# last 10,000 steps (a secondary down for more changes than that gets
# an AXFR). A step of one dynamic-DNS update is ~100 bytes: ~1 MB per zone.
DEFAULT_JOURNAL_STEPS = 10_000


@dataclass(frozen=True)
class Step:
    """One serial step of a zone: ``removed`` then ``added`` (RFC 1995 §4 order)."""

    old_serial: int
    new_serial: int
    removed: tuple[Rr, ...]
    added: tuple[Rr, ...]


class Journal:
    """Per-zone bounded histories of :class:`Step`; zones keyed by origin wire name."""

    def __init__(self, limit: int = DEFAULT_JOURNAL_STEPS) -> None:
        if limit < 1:
            raise ValueError("the journal must hold at least one step")
        self.limit = limit
        self._zones: dict[bytes, deque[Step]] = {}
        # Called with the origin wire name after every change (NOTIFY scheduling).
        self.listeners: list[Callable[[bytes], None]] = []

    def record(
        self, origin: bytes, old_serial: int, new_serial: int, removed: list[Rr], added: list[Rr]
    ) -> None:
        """Add a step (or merge into the last one when the serial did not move on)."""
        steps = self._zones.setdefault(origin, deque(maxlen=self.limit))
        if steps and old_serial == new_serial == steps[-1].new_serial:
            last = steps.pop()
            gone = set(removed)
            kept = [rr for rr in last.added if rr not in gone]
            was_added = set(last.added)
            more_removed = [rr for rr in removed if rr not in was_added]
            steps.append(
                Step(
                    last.old_serial,
                    new_serial,
                    _unique(last.removed + tuple(more_removed)),
                    _unique(tuple(kept) + tuple(added)),
                )
            )
        elif old_serial != new_serial:
            if steps and steps[-1].new_serial != old_serial:
                steps.clear()  # a gap (changed outside the journal): no diff spans it
            steps.append(
                Step(old_serial, new_serial, _unique(tuple(removed)), _unique(tuple(added)))
            )
        for listener in self.listeners:
            listener(origin)

    def reset(self, origin: bytes) -> None:
        """Forget a zone's history (it was loaded whole, or dropped)."""
        self._zones.pop(origin, None)
        for listener in self.listeners:
            listener(origin)

    def since(self, origin: bytes, serial: int) -> list[Step] | None:
        """The steps from ``serial`` to now, or None when the journal cannot say (AXFR)."""
        steps = self._zones.get(origin)
        if not steps:
            return None
        for i, step in enumerate(steps):
            if step.old_serial == serial:
                return list(steps)[i:]
        return None


def _unique(rrs: tuple[Rr, ...]) -> tuple[Rr, ...]:
    return tuple(dict.fromkeys(rrs))


def node_rrs(owner: bytes, rrsets: dict[int, tuple[int, tuple[bytes, ...]]]) -> list[Rr]:
    """A node's RRsets as journal RRs."""
    return [(owner, rdtype, ttl, wire) for rdtype, (ttl, wires) in rrsets.items() for wire in wires]


def diff(old: list[Rr], new: list[Rr]) -> tuple[list[Rr], list[Rr]]:
    """(removed, added) between two RR lists; a TTL change is a remove and an add."""
    old_set, new_set = set(old), set(new)
    return [rr for rr in old if rr not in new_set], [rr for rr in new if rr not in old_set]
