"""The ACME challenge TXT values the server holds, and how an edit changes them.

Every challenge API turns its request into one :class:`ChallengeEdit` (a list of
adds and deletes at ``_acme-challenge`` names of one host, maybe with RFC 2136
prerequisites). The store task (:mod:`.service`) plans it here against the current
values, commits the plan durably, applies it here and serves the changed names:
what an API acknowledges, DNS already answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import dns.rcode

from homeport.core import challenge
from homeport.core.hostdata import txt_rdata
from homeport.core.zone import Catalog, Record
from homeport.server.store import AuditEntry, ChallengeRow


@dataclass(frozen=True)
class ChallengeOp:
    """Add ``value`` at ``name``, or delete it (``value`` None with ``add`` False: all values)."""

    name: str  # absolute, lower case
    value: str | None
    add: bool


@dataclass(frozen=True)
class ChallengeEdit:
    """One request's changes to one host's challenge names, applied all or nothing."""

    zone: str
    host: str
    ops: tuple[ChallengeOp, ...]
    actor: str
    source: str
    api: str
    # RFC 2136 §3.2: checked in the store task against what DNS serves; gives an RCODE
    # (0: met). None for the HTTP APIs, which have no prerequisites.
    prerequisite: Callable[[Catalog], int] | None = None


@dataclass(frozen=True)
class ChallengeOutcome:
    rcode: int  # 0: done (or nothing to do); else the DNS RCODE that refuses it
    changed: bool
    reason: str = ""


@dataclass
class Plan:
    outcome: ChallengeOutcome
    adds: list[ChallengeRow] = field(default_factory=list)
    removes: list[tuple[str, str]] = field(default_factory=list)
    zones: set[str] = field(default_factory=set)
    changed_names: list[tuple[str, str]] = field(default_factory=list)
    audits: list[AuditEntry] = field(default_factory=list)
    state: dict[str, dict[str, ChallengeRow]] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return bool(self.adds or self.removes)


_NONE = ChallengeOutcome(0, False)


class Challenges:
    """Current challenge values by name (the store task's copy of the table)."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, ChallengeRow]] = {}
        self.next_expiry = float("inf")

    def load(self, rows: Iterable[ChallengeRow]) -> None:
        self.by_name = {}
        for row in rows:
            self.by_name.setdefault(row.name, {})[row.value] = row
        self._recompute_expiry()

    def replace_names(self, names: Iterable[str], rows: Iterable[ChallengeRow]) -> None:
        """``names``' values are now exactly ``rows`` (read back from the store)."""
        for name in names:
            self.by_name.pop(name, None)
        for row in rows:
            self.by_name.setdefault(row.name, {})[row.value] = row
        self._recompute_expiry()

    def drop_hosts(self, keep: set[str]) -> list[tuple[str, str]]:
        """Forget the values of hosts not in ``keep`` (removed: the store cascaded);
        returns the (zone, name) pairs whose records changed."""
        changed = []
        for name, rows in list(self.by_name.items()):
            left = {v: row for v, row in rows.items() if row.host in keep}
            if len(left) != len(rows):
                changed.append((next(iter(rows.values())).zone, name))
                if left:
                    self.by_name[name] = left
                else:
                    del self.by_name[name]
        self._recompute_expiry()
        return changed

    def values(self, name: str) -> list[str]:
        return sorted(self.by_name.get(name, {}))

    def records(self, name: str) -> list[Record]:
        """The TXT records DNS serves at ``name`` for its challenge values."""
        return [
            Record(name, "TXT", challenge.TTL, txt_rdata(value))
            for value in self.by_name.get(name, {})
        ]

    def zone_records(self, zone: str) -> list[Record]:
        out: list[Record] = []
        for name, rows in self.by_name.items():
            if any(row.zone == zone for row in rows.values()):
                out.extend(self.records(name))
        return out

    def plan(self, edit: ChallengeEdit | None, now: float, catalog: Catalog) -> Plan:
        """What ``edit`` changes (and which values expired by ``now``); changes nothing here."""
        plan = Plan(_NONE)
        touched: dict[str, dict[str, ChallengeRow]] = {}

        def working(name: str) -> dict[str, ChallengeRow]:
            if name not in touched:
                touched[name] = dict(self.by_name.get(name, {}))
            return touched[name]

        if edit is not None and edit.prerequisite is not None:
            rcode = edit.prerequisite(catalog)
            if rcode:
                return Plan(ChallengeOutcome(rcode, False, "prerequisite not met"))
        if self.next_expiry <= now:
            for name, rows in self.by_name.items():
                for value, row in rows.items():
                    if row.expires <= now:
                        del working(name)[value]
                        plan.removes.append((name, value))
        added = deleted = 0
        if edit is not None:
            for op in edit.ops:
                rows = working(op.name)
                if op.add:
                    assert op.value is not None
                    if op.value not in rows:
                        added += 1
                    row = ChallengeRow(edit.zone, edit.host, op.name, op.value, 0.0)
                    rows[op.value] = replace(row, expires=now + challenge.LIFETIME)
                    plan.adds.append(rows[op.value])
                else:
                    gone = list(rows) if op.value is None else [op.value]
                    for value in gone:
                        if rows.pop(value, None) is not None:
                            deleted += 1
                            plan.removes.append((op.name, value))
            reason = self._cap_problem(edit.host, touched)
            if reason:
                return Plan(ChallengeOutcome(dns.rcode.REFUSED, False, reason))
            if added or deleted:
                plan.audits.append(
                    AuditEntry(
                        actor=edit.actor,
                        action="challenge",
                        subject=", ".join(sorted({op.name for op in edit.ops})),
                        detail=f"api={edit.api} added={added} deleted={deleted}",
                        source=edit.source,
                        ts=now,
                    )
                )
        for name, rows in touched.items():
            before = self.by_name.get(name, {})
            if set(rows) != set(before):
                zone = next(iter((rows or before).values())).zone
                plan.zones.add(zone)
                plan.changed_names.append((zone, name))
        # A renewed value changes no DNS data, but is written (its expiry moves).
        plan.outcome = ChallengeOutcome(0, bool(added or deleted))
        plan.state = touched
        return plan

    def apply(self, plan: Plan) -> None:
        """Make a committed plan the current state."""
        for name, rows in plan.state.items():
            if rows:
                self.by_name[name] = rows
            else:
                self.by_name.pop(name, None)
        self._recompute_expiry()

    def _cap_problem(self, host: str, touched: dict[str, dict[str, ChallengeRow]]) -> str:
        for name, rows in touched.items():
            if len(rows) > challenge.MAX_VALUES_PER_NAME:
                return f"more than {challenge.MAX_VALUES_PER_NAME} challenge values at {name}"
        total = 0
        for name, rows in self.by_name.items():
            current = touched.get(name, rows)
            total += sum(1 for row in current.values() if row.host == host)
        for name, rows in touched.items():
            if name not in self.by_name:
                total += sum(1 for row in rows.values() if row.host == host)
        if total > challenge.MAX_VALUES_PER_HOST:
            return f"more than {challenge.MAX_VALUES_PER_HOST} challenge values for {host}"
        return ""

    def _recompute_expiry(self) -> None:
        self.next_expiry = min(
            (row.expires for rows in self.by_name.values() for row in rows.values()),
            default=float("inf"),
        )
