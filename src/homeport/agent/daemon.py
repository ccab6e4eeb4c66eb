"""One agent cycle: detect, decide, publish, remember.

The decisions are :mod:`homeport.core.hoststate`'s; :class:`Agent` only runs
them (STYLE 6). ``--once`` runs one cycle in-process, ``--dry-run`` renders the
requests a cycle would send without sending them or touching the state, and
the daemon (:mod:`homeport.agent.supervisor`) runs each cycle in a short-lived
child process so the idle daemon stays small.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from homeport import __version__
from homeport.agent import hooks, publish
from homeport.agent.config import AgentConfig
from homeport.agent.detect import detect
from homeport.agent.statefile import StateFile
from homeport.core import hoststate as hs
from homeport.core.consensus import Verdict
from homeport.core.update import HostUpdate, Status, UpdateResult

log = logging.getLogger("homeport.agent")


@dataclass
class CycleReport:
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    sent: list[HostUpdate] = field(default_factory=list)
    results: list[UpdateResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rendered: list[str] = field(default_factory=list)

    @property
    def detected(self) -> bool:
        return any(v.address is not None for v in self.verdicts.values())

    @property
    def failed(self) -> bool:
        """A wanted family stayed unknown, or a provider did not confirm an update."""
        return any(v.address is None for v in self.verdicts.values()) or any(
            r.status not in (Status.GOOD, Status.NOCHG) for r in self.results
        )


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        state_dir: Path,
        *,
        dry_run: bool = False,
        force: bool = False,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        emit: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self.store = StateFile(state_dir)
        self.states = self.store.load()
        self.dry_run = dry_run
        self.force = force
        self.clock = clock
        self.jitter = jitter
        self.emit = emit
        self.last_report: CycleReport | None = None
        self.cert_due: float | None = None  # when a [[certificate]] is next due

    # --- one cycle ------------------------------------------------------------------

    def _wanted_families(self) -> list[int]:
        cfg = self.config
        return [
            family
            for family in (4, 6)
            if cfg.family(family).enabled  # type: ignore[arg-type,unused-ignore]
            and any(p.ipv4 if family == 4 else p.ipv6 for p in cfg.providers)
        ]

    async def cycle(self) -> CycleReport:
        """Detect, decide, publish and remember, once.

        Under the state directory's lock, with the state read afresh: a manual
        ``--once`` next to the daemon must not send what the other just sent.
        """
        if self.dry_run:
            return await self._cycle()
        with self.store.lock():
            self.states = self.store.load()
            return await self._cycle()

    async def _cycle(self) -> CycleReport:
        cfg = self.config
        report = CycleReport()
        families = self._wanted_families()
        verdicts = await asyncio.gather(
            *(detect(cfg.family(f), cfg.agent.timeout) for f in families)  # type: ignore[arg-type]
        )
        for family, verdict in zip(families, verdicts, strict=True):
            report.verdicts[family] = verdict
            for answer in verdict.answers:
                log.debug("IPv%d %s: %s", family, answer.source, answer.address or answer.error)
            if verdict.address is None:
                log.error("IPv%d: nothing published: %s", family, verdict.reason)
            else:
                log.debug("IPv%d is %s (%s)", family, verdict.address, verdict.reason)
        v4 = report.verdicts[4].address if 4 in report.verdicts else None
        v6 = report.verdicts[6].address if 6 in report.verdicts else None
        want4 = v4 if isinstance(v4, IPv4Address) else None
        want6 = v6 if isinstance(v6, IPv6Address) else None
        now = self.clock()
        events: list[hooks.Event] = []
        for entry in cfg.providers:
            decisions: dict[str, hs.Decision] = {}
            for host in entry.hosts:
                state = hs.reconcile(
                    self.states.get(host) or hs.HostState(host), entry.host_hashes[host]
                )
                self.states[host] = state
                decision = hs.decide(
                    state,
                    want4=want4 if entry.ipv4 else None,
                    want6=want6 if entry.ipv6 else None,
                    now=now,
                    policy=cfg.policy,
                    force=self.force,
                )
                if decision.send:
                    decisions[host] = decision
                else:
                    report.skipped[host] = decision.reason
                    log.debug("%s: nothing to send (%s)", host, decision.reason)
            if not decisions:
                continue
            provider = _provider_class(entry.protocol)(entry.settings, version=__version__)
            updates = [HostUpdate(h, d.ipv4, d.ipv6) for h, d in decisions.items()]
            report.sent += updates
            if self.dry_run:
                for text in publish.render(provider, updates):
                    report.rendered.append(text)
                    self.emit(text + "\n")
                continue
            for host, wanted in decisions.items():
                log.info("%s: sending (%s)", host, wanted.reason)
            results = await publish.update(provider, updates, time_limit=cfg.agent.timeout)
            report.results += results
            for result in results:
                # Each result is folded in with its own host's decision: hosts of one
                # provider may send different families.
                sent = decisions.get(result.hostname)
                if sent is None:
                    continue
                old = self.states[result.hostname]
                new = hs.apply(old, sent, result, now=now, jitter=self.jitter(), policy=cfg.policy)
                self.states[result.hostname] = new
                events += _events(old, new, result)
                level = (
                    logging.INFO if result.status in (Status.GOOD, Status.NOCHG) else logging.ERROR
                )
                said = result.message  # often the provider's whole line, code first
                if not said.startswith(result.code):
                    said = f"{result.code} {said}".rstrip()
                log.log(level, "%s: %s", result.hostname, said)
        if not self.dry_run:
            self.store.save(self.states)
            await self._run_hooks(events, want4, want6)
            if cfg.certificates:  # renewed like names: due ones now, the rest at next_due()
                from homeport.cert.renew import keep

                self.cert_due = await keep(cfg, self.store.path.parent, now)
        self.last_report = report
        return report

    async def _run_hooks(
        self, events: list[hooks.Event], v4: IPv4Address | None, v6: IPv6Address | None
    ) -> None:
        cfg = self.config.hooks
        if v4 or v6:
            first = self.config.providers[0].hosts[0] if self.config.providers else ""
            hooks.write_advertise(cfg, first, v4, v6)
        for event in events:
            await hooks.run_command(cfg, event)
        if events:
            payload: dict[str, Any] = {"events": [e.as_json() for e in events]}
            await hooks.send_webhook(cfg, payload, self.config.agent.timeout)

    def next_due(self) -> float | None:
        """The earliest retry or refresh any host is waiting for."""
        times = [t for st in self.states.values() if (t := hs.next_due(st, self.config.policy))]
        times += [self.cert_due] if self.cert_due is not None else []
        return min(times) if times else None


def _provider_class(protocol: str) -> Any:
    from homeport import providers

    return providers.get(protocol)


def _events(old: hs.HostState, new: hs.HostState, result: UpdateResult) -> list[hooks.Event]:
    if result.status in (Status.GOOD, Status.NOCHG):
        if (old.ipv4.address, old.ipv6.address) == (new.ipv4.address, new.ipv6.address):
            return []
        event = "changed"
    elif new.disabled_code and not old.disabled_code:
        event = "failed"
    else:
        return []
    return [
        hooks.Event(
            new.hostname,
            event,
            new.ipv4.address,  # type: ignore[arg-type]
            new.ipv6.address,  # type: ignore[arg-type]
            old.ipv4.address,  # type: ignore[arg-type]
            old.ipv6.address,  # type: ignore[arg-type]
            result.code,
        )
    ]


def status_line(report: CycleReport) -> str:
    parts = [
        f"IPv{f} {v.address}" if v.address else f"IPv{f} unknown"
        for f, v in sorted(report.verdicts.items())
    ]
    return ", ".join(parts) or "no families enabled"
