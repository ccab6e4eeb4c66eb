"""Keep certificates renewed: what ``homeport cert renew`` and the agent daemon run.

For each ``[[certificate]]`` entry: read what is on disk, ask
:func:`homeport.core.certrenew.decide`, and when it is due obtain a new certificate
(:func:`homeport.cert.order.issue`), replace the files and run the entry's hook. A
failure is remembered on disk so the next attempt waits (core.certrenew), and never
stops the other entries or the agent.

ARI (RFC 9773): the decision takes the CA's suggested time, but it is not fetched yet:
Debian's pebble 2.4 (the CA every test runs against) has no ``renewalInfo`` in its
directory, so that path could not be tested end to end; renewal follows the
one-third rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from homeport import __version__, providers
from homeport.agent.config import AgentConfig, CertificateSection, certificate_provider
from homeport.agent.hooks import run_hook_command
from homeport.cert import order, store
from homeport.core import certrenew
from homeport.errors import ConfigError, HomeportError, LocalError
from homeport.providers.base import Provider

log = logging.getLogger("homeport.cert")

CERT_SUBDIR = "certs"  # under the agent's state directory, when an entry names none


@dataclass(frozen=True)
class Entry:
    """One certificate to keep: what to ask for, who sets its TXT, where it goes."""

    request: order.Request
    provider: Provider
    root: Path
    hook: str | None = None
    hook_timeout: float = 60.0


@dataclass(frozen=True)
class Outcome:
    name: str
    decision: certrenew.Renewal
    issued: order.Issued | None = None
    failure: HomeportError | None = None

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure is not None else None


def entry_of(section: CertificateSection, cfg: AgentConfig, state_dir: Path) -> Entry:
    found = certificate_provider(section, cfg.providers)
    if found is None:
        raise ConfigError(
            f"no [[provider]] lists {section.name}: add it to one's hosts or give --provider"
        )
    provider = providers.get(found.protocol)(found.settings, version=__version__)
    dns = None
    if section.dns:
        host, _, port = section.dns.rpartition(":")
        dns = (host.strip("[]"), int(port))
    request = order.Request(
        name=section.name,
        directory=order.directory_url(section.acme),
        wildcard=section.wildcard,
        key_type=section.key_type,
        email=section.email,
        ca_bundle=section.ca_bundle,
        eab_kid=section.eab_kid,
        eab_hmac_key=section.eab_hmac_key.get_secret_value() if section.eab_hmac_key else None,
        dns=dns,
    )
    root = Path(section.directory) if section.directory else state_dir / CERT_SUBDIR
    return Entry(request, provider, root, section.hook, section.hook_timeout)


def entries(cfg: AgentConfig, state_dir: Path, names: Sequence[str] = ()) -> list[Entry]:
    sections = [s for s in cfg.certificates if not names or s.name in names]
    missing = set(names) - {s.name for s in sections}
    if missing:
        raise ConfigError(f"no [[certificate]] for {', '.join(sorted(missing))} in {cfg.origin}")
    return [entry_of(s, cfg, state_dir) for s in sections]


def decide(entry: Entry, now: float) -> certrenew.Renewal:
    stored = store.read(entry.root, entry.request.name)
    last = store.last_failure(entry.root, entry.request.name)
    return certrenew.decide(stored.current, entry.request.names, now, last_failure=last)


async def renew(
    entry: Entry,
    now: float,
    *,
    force: bool = False,
    emit: Callable[[str], None] = log.info,
) -> Outcome:
    """Renew ``entry`` if it is due (or ``force``); never raises a HomeportError."""
    name = entry.request.name
    try:
        decision = decide(entry, now)
    except HomeportError as exc:
        return Outcome(name, certrenew.Renewal(False, now, "unreadable"), failure=exc)
    if not decision.due and not force:
        return Outcome(name, decision)
    try:
        issued = await order.issue(entry.request, entry.provider, entry.root, emit=emit)
    except LocalError as exc:
        # Our config or input: nothing reached the CA, so no retry delay either.
        return Outcome(name, decision, failure=exc)
    except HomeportError as exc:
        store.note_attempt(entry.root, name, now)
        return Outcome(name, decision, failure=exc)
    store.note_attempt(entry.root, name, None)
    await run_hook(entry, issued)
    return Outcome(name, decision, issued)


async def keep(cfg: AgentConfig, state_dir: Path, now: float) -> float | None:
    """The daemon's step: renew every due entry, log each outcome; when one is next due."""
    try:
        todo = entries(cfg, state_dir)
    except HomeportError as exc:
        log.error("certificates: %s", exc)
        return None
    times = []
    for entry in todo:
        outcome = await renew(entry, now)
        if outcome.error:
            log.error("%s: certificate not renewed: %s", outcome.name, outcome.error)
        elif outcome.issued:
            log.info("%s: new certificate in %s", outcome.name, outcome.issued.path)
        try:
            times.append(decide(entry, now).at)
        except HomeportError:
            continue
    return min(times) if times else None


async def run_hook(entry: Entry, issued: order.Issued) -> None:
    """Run the entry's hook (no shell) with the new files named in its environment."""
    if not entry.hook:
        return
    env = {
        "HOMEPORT_CERT_NAME": entry.request.name,
        "HOMEPORT_CERT_DIR": str(issued.path),
        "HOMEPORT_CERT_FULLCHAIN": str(issued.path / store.FULLCHAIN),
        "HOMEPORT_CERT_PRIVKEY": str(issued.path / store.PRIVKEY),
    }
    what = f"{entry.request.name}: certificate hook"
    await run_hook_command(entry.hook, env, entry.hook_timeout, what)
