"""How soon an event (a router's GENA NOTIFY, a local address change) may run an agent cycle.

Events are news and should be acted on at once, but each cycle asks the checkip services,
which want about one request a minute, and a flapping interface or a chatty
router must not turn into a poll every second. A token bucket gives both: a burst of
:data:`EVENT_BURST` cycles at once (a router reboot, then its new address, then the mapping
renewed), then one per ``gap`` seconds. Pure: the caller passes ``now`` (monotonic seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

# Three: the longest legitimate burst we know is reboot -> new WAN address -> DHCP renew.
EVENT_BURST = 3.0


@dataclass
class EventBudget:
    gap: float  # seconds to earn back one event cycle; 0 = no limit
    burst: float = EVENT_BURST
    tokens: float = EVENT_BURST
    updated: float | None = None

    def _refill(self, now: float) -> None:
        if self.updated is not None and self.gap > 0:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) / self.gap)
        self.updated = now

    def when(self, now: float, settle: float) -> float:
        """The earliest time a cycle for an event seen at ``now`` may run."""
        self._refill(now)
        if self.gap <= 0 or self.tokens >= 1:
            return now + settle
        return max(now + settle, now + (1 - self.tokens) * self.gap)

    def spend(self, now: float) -> None:
        """An event-driven cycle runs now."""
        self._refill(now)
        if self.gap > 0:
            self.tokens = max(0.0, self.tokens - 1)
