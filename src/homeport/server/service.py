"""The running server's view of the store: hosts, users, zones, and the DNS catalog.

One task (the *store task*) owns every change to this view. It takes update
intents from a queue in batches, commits each batch in one durable transaction
(group commit), then updates the in-memory hosts and the DNS catalog, and only
then resolves the callers' futures: an update is acknowledged after it is on
disk, and DNS answers the new data from that moment (docs/architecture.md, server invariants).

Between batches the same task asks the store whether another process (an
admin command) has committed (SQLite's ``PRAGMA data_version``, PostgreSQL's
newest change seq, woken early by NOTIFY); if so, it reloads users and hosts
and replays the ``changes`` feed into the catalog. Doing both in one task means a
reload can never overwrite a newer in-memory state with an older snapshot.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from homeport.core.hostdata import txt_rdata
from homeport.core.update_plan import Published, UpdateIntent, apply_intent, intent_problem
from homeport.core.zone import Catalog, PreparedName, Record, record_problem
from homeport.errors import ConfigError, HomeportError, StaleError, StoreError, UsageError
from homeport.server.challenges import ChallengeEdit, ChallengeOutcome, Challenges
from homeport.server.store import (
    ACCOUNTS,
    AuditEntry,
    ChallengeRow,
    HostRow,
    RelaySessionRow,
    Store,
    UserRow,
    same_host_data,
)
from homeport.server.tsigkeys import Keyring, keyring, server_key

log = logging.getLogger(__name__)

# How often the store task checks for other processes' commits. An admin change
# is served within this delay; the check is one cheap query (a PRAGMA on SQLite;
# on PostgreSQL a NOTIFY usually wakes the task sooner).
WATCH_INTERVAL = 0.1
# Largest batch committed in one transaction: bounds the latency of the batch's
# first update while still sharing one fsync among many concurrent clients.
MAX_BATCH = 512
# How much of a client's User-Agent is kept for the dashboard: enough for
# "Company - Device - Version" (dyndns2's rule) and ddclient's or inadyn's own.
MAX_AGENT_LENGTH = 200
# How often a batch is decided again when another server instance on the same
# PostgreSQL database changed one of its hosts meanwhile; each retry first reads
# the hosts afresh, so only a host updated through several instances at once in
# every attempt runs out (its callers then get a retryable error).
STALE_RETRIES = 3
# After a failed expiry of challenge values, try again this much later (not every pass).
EXPIRY_RETRY = 10.0


@dataclass(frozen=True)
class UpdateOutcome:
    host: HostRow | None  # None: the host no longer exists
    changed: bool


@dataclass(frozen=True)
class RelaySwitch:
    """Serve a host at the relay's addresses while ``session`` is live (None: at its own)."""

    fqdn: str
    ipv4: str | None
    ipv6: str | None
    session: RelaySessionRow | None
    audit: AuditEntry


def host_records(host: HostRow, static: list[Record], ttl: int) -> list[Record]:
    """Everything DNS serves at a host's name: its static records plus its addresses."""
    records = list(static)
    # A host behind the relay is served at the relay's addresses, whatever it stored.
    ipv4, ipv6 = (host.relay_ipv4, host.relay_ipv6) if host.relayed else (host.ipv4, host.ipv6)
    if not host.offline:
        name = host.fqdn
        if ipv4:
            records.append(Record(name, "A", ttl, ipv4))
        if ipv6:
            records.append(Record(name, "AAAA", ttl, ipv6))
    if host.txt is not None:
        records.append(Record(host.fqdn, "TXT", ttl, txt_rdata(host.txt)))
    return records


def _servable(origin: str, records: list[Record]) -> list[Record]:
    """``records`` less those that cannot be served, each logged once."""
    good = []
    for record in records:
        problem = record_problem(origin, record)
        if problem is None:
            good.append(record)
        else:
            log.error("not serving a stored record: %s", problem)
    return good


class DdnsService:
    """Hosts, users and the catalog, kept in step with the store."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.hosts: dict[str, HostRow] = {}
        self.users: dict[str, UserRow] = {}
        self.default_ttl: dict[str, int] = {}
        self.allow_private: dict[str, bool] = {}  # zone -> may publish private addresses
        self._static: dict[str, list[Record]] = {}  # host fqdn -> static records at that name
        # Names with static records (any zone): a challenge name not among them needs no
        # store query when its values change (the common case, and the UPDATE hot path).
        self._static_names: set[str] = set()
        self.challenges = Challenges()
        # TSIG key name -> key and host; replaced whole on reload (read by the UDP thread).
        self.keyring = Keyring()
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] = asyncio.Queue()
        self._fresh_token = 0
        self._task: asyncio.Task[None] | None = None
        self._data_version = 0
        self._last_change = 0
        self._last_watch = 0.0
        self._unchanged: set[str] = set()  # hosts the current _watch need not re-render
        # Hosts whose state in self.hosts may not be what the catalog serves (adopted or
        # re-read outside _watch): the feed entry that follows re-renders them.
        self._dirty: set[str] = set()
        self.on_user_change: Callable[[str], None] = lambda name: None
        # Per host, since this server started: updates that changed something (good), that
        # changed nothing (nochg) and that were refused or failed (fault). For the dashboard;
        # kept in memory: counting a nochg durably would cost a write per request.
        self.results: collections.defaultdict[str, collections.Counter[str]] = (
            collections.defaultdict(collections.Counter)
        )
        # Run after each reload of another process's commits (zone transfer peers).
        self.after_reload: list[Callable[[], Awaitable[None]]] = []

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._fresh_token = await self.store.fresh_token()
        self._data_version = await self.store.commit_token()
        self._last_change = await self.store.last_change()
        await self._load_accounts()
        self.challenges.load(await self.store.challenges(self.clock()))
        for zone in await self.store.zones():
            await self._load_zone(zone.origin)
        self._task = asyncio.create_task(self._run(), name="homeport-store")
        await self.store.on_outside_change(self._wake)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(StoreError("server is shutting down"))

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- the store task -------------------------------------------------------------

    async def update(self, intent: UpdateIntent) -> UpdateOutcome:
        """Queue ``intent``; return once it is durable and served (or found unchanged).

        UsageError: the intent's values may not be published in its host's zone (checked
        here, before it is queued; the store task checks again that it renders).
        """
        try:
            self.check(intent)
            outcome = await self._submit(intent)
        except HomeportError:
            self.results[intent.fqdn]["fault"] += 1
            raise
        assert isinstance(outcome, UpdateOutcome)
        self.results[intent.fqdn]["good" if outcome.changed else "nochg"] += 1
        return outcome

    async def ensure_fresh(self) -> None:
        """Catch up with admin commands committed since the last reload.

        Called before authenticating, so a rotated secret or a removed host takes
        effect for the very next request. Costs one stat() on SQLite, one shared
        query on PostgreSQL, when nothing changed.
        """
        token = await self.store.fresh_token()
        if token != self._fresh_token:
            self._fresh_token = token
            await self._submit(None)

    def check(self, intent: UpdateIntent) -> None:
        """UsageError if an address or TXT value of ``intent`` may not be published."""
        zone = self.zone_of(intent.fqdn)
        allow_private = self.allow_private.get(zone, False) if zone else False
        problem = intent_problem(intent, allow_private=allow_private)
        if problem is not None:
            raise UsageError(problem)

    def _wake(self) -> None:
        """Another process committed: have the store task catch up now, not at its next poll."""
        if self.running:
            self._queue.put_nowait((None, asyncio.get_running_loop().create_future()))

    async def _submit(self, intent: Any) -> Any:
        if not self.running:
            raise StoreError("the store task is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((intent, future))
        return await future

    async def edit_challenges(self, edit: ChallengeEdit) -> ChallengeOutcome:
        """Apply ``edit`` in the store task; return once it is durable and served.

        The edit's scope was checked by the caller; its prerequisites (RFC 2136 §3.2)
        and the value caps are checked in the store task, against what DNS serves.
        """
        outcome = await self._submit(edit)
        assert isinstance(outcome, ChallengeOutcome)
        return outcome

    async def switch_relay(self, switch: RelaySwitch) -> bool:
        """Apply ``switch`` in the store task; False if the host does not exist."""
        outcome = await self._submit(switch)
        assert isinstance(outcome, bool)
        return outcome

    async def _run(self) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self._queue.get(), WATCH_INTERVAL)
            except TimeoutError:
                first = None
            batch = [first] if first is not None else []
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._handle(batch)
            except Exception as exc:
                # Whatever went wrong, it concerns this batch: its callers get an error
                # answer and the task goes on serving the next one: no one request takes the
                # server down.
                log.exception("store task: a batch of %d failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(StoreError(f"update not stored: {exc!r}"[:200]))

    async def _handle(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        syncs = [future for intent, future in batch if intent is None]
        updates = [(intent, f) for intent, f in batch if isinstance(intent, UpdateIntent)]
        if updates:
            await self._commit(updates)
        for switch, future in batch:
            if isinstance(switch, RelaySwitch):
                try:
                    future.set_result(await self._commit_relay(switch))
                except HomeportError as exc:
                    future.set_exception(exc)
        group: list[tuple[ChallengeEdit, asyncio.Future[Any]]] = []
        for edit, future in batch:
            if not isinstance(edit, ChallengeEdit):
                continue
            if edit.prerequisite is not None:
                # RFC 2136 §3.2: checked against what DNS serves, so every edit before
                # it must be served first; it goes alone.
                await self._commit_challenge_group(group)
                group = []
                await self._commit_challenge_group([(edit, future)])
            else:
                group.append((edit, future))
        await self._commit_challenge_group(group)
        if self.challenges.next_expiry <= self.clock():
            try:
                await self._commit_challenge(None)
            except StoreError as exc:
                log.warning("expiring challenge values failed: %s", exc)
                self.challenges.next_expiry = self.clock() + EXPIRY_RETRY
        now = time.monotonic()
        if syncs or now - self._last_watch >= WATCH_INTERVAL:
            self._last_watch = now
            try:
                await self._watch()
            except StoreError as exc:
                log.warning("reloading from the store failed: %s", exc)
            for future in syncs:
                if not future.done():
                    future.set_result(None)

    async def _commit_challenge_group(
        self, group: list[tuple[ChallengeEdit, asyncio.Future[Any]]]
    ) -> None:
        """Commit a group of challenge edits in one transaction (one fsync), then answer."""
        if not group:
            return
        try:
            outcomes = await self._commit_challenges([edit for edit, _ in group])
        except HomeportError as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _commit_challenge(self, edit: ChallengeEdit | None) -> ChallengeOutcome:
        """Make ``edit`` (None: only the expiry of old values) durable, then serve it."""
        return (await self._commit_challenges([edit]))[0]

    async def _commit_challenges(self, edits: list[ChallengeEdit | None]) -> list[ChallengeOutcome]:
        """Plan each edit on the state the ones before it left, commit the net change
        once, then serve it. On a store error nothing is kept (StoreError raised)."""
        now = self.clock()
        before = dict(self.challenges.by_name)  # plans replace whole per-name dicts
        outcomes: list[ChallengeOutcome] = []
        audits: list[AuditEntry] = []
        touched: set[str] = set()
        for edit in edits:
            plan = self.challenges.plan(edit, now, self.catalog)
            outcomes.append(plan.outcome)
            if not plan.outcome.rcode and plan.writes:
                self.challenges.apply(plan)
                touched.update(plan.state)
                audits.extend(plan.audits)
        if not touched:
            return outcomes
        after = self.challenges.by_name
        adds: list[ChallengeRow] = []
        removes: list[tuple[str, str]] = []
        changed: list[tuple[str, str]] = []
        for name in sorted(touched):
            old, new = before.get(name, {}), after.get(name, {})
            removes.extend((name, value) for value in old if value not in new)
            adds.extend(row for value, row in new.items() if old.get(value) != row)
            if set(old) != set(new):
                changed.append((next(iter((new or old).values())).zone, name))
        try:
            serials = await self.store.commit_challenges(
                adds, removes, now, {zone for zone, _ in changed}, audits, changed
            )
        except StoreError:
            self.challenges.load(row for rows in before.values() for row in rows.values())
            raise
        for zone, name in changed:
            serial = serials.get(zone)
            if serial is None:
                continue
            static = await self.store.records_at(zone, name) if name in self._static_names else []
            records = static + self.challenges.records(name)
            try:
                self.catalog.replace_name(zone, name, records, serial)
            except ConfigError:
                self.catalog.replace_name(zone, name, _servable(zone, records), serial)
        return outcomes

    async def _commit(
        self, batch: list[tuple[UpdateIntent, asyncio.Future[UpdateOutcome | None]]]
    ) -> None:
        last: StoreError = StaleError("no attempt made")
        for _ in range(STALE_RETRIES):
            try:
                await self._commit_once(batch)
                return
            except StaleError as exc:
                # Another server instance updated some of these hosts since this one
                # followed the feed: decide again from the store's state.
                last = exc
                names = sorted({intent.fqdn for intent, _ in batch})
                fresh = {h.fqdn: h for h in await self.store.hosts_named(names)}
                for name in names:
                    self._dirty.add(name)
                    if name in fresh:
                        self.hosts[name] = fresh[name]
                    else:
                        self.hosts.pop(name, None)
            except StoreError as exc:
                last = exc
                break
        for _, future in batch:
            if not future.done():
                future.set_exception(last)

    async def _commit_once(
        self, batch: list[tuple[UpdateIntent, asyncio.Future[UpdateOutcome | None]]]
    ) -> None:
        """Decide every intent from the hosts' states, commit, serve, answer.

        StaleError (nothing written, no future answered): a host's state changed in
        the store since it was read; the caller refreshes it and calls again.
        """
        now = self.clock()
        pending: dict[str, HostRow] = {}
        expect: dict[str, HostRow] = {}
        prepared: dict[str, PreparedName] = {}
        outcomes: list[tuple[asyncio.Future[UpdateOutcome | None], str | None, bool]] = []
        audits: list[AuditEntry] = []
        for intent, future in batch:
            if future.done():
                continue  # refused in an earlier attempt
            current = pending.get(intent.fqdn) or self.hosts.get(intent.fqdn)
            if current is None:
                # Added by an admin command since the last watch: adopt it now, so a new
                # host can update at once rather than after the next reload.
                current = await self.store.host(intent.fqdn)
                if current is not None:
                    self.hosts[current.fqdn] = current
                    self._dirty.add(current.fqdn)
                    self._static[current.fqdn] = await self.store.records_at(
                        current.zone, current.fqdn
                    )
            if current is None:
                outcomes.append((future, None, False))
                continue
            expect.setdefault(intent.fqdn, current)
            after = apply_intent(current, intent)
            changed = after != Published.of(current)
            if changed:
                new = replace(
                    current, ipv4=after.ipv4, ipv6=after.ipv6, txt=after.txt, offline=after.offline
                )
                try:
                    # Rendered before it is stored: what cannot be served is refused, alone.
                    prepared[intent.fqdn] = self._prepare(new)
                except HomeportError as exc:
                    log.warning("update of %s refused: %s", intent.fqdn, exc)
                    future.set_exception(UsageError(f"cannot publish: {exc}"))
                    continue
                agent = intent.agent[:MAX_AGENT_LENGTH] if intent.agent else None
                new = replace(new, updated=now, last_source=intent.source, last_agent=agent)
                pending[intent.fqdn] = new
                audits.append(
                    AuditEntry(
                        actor=intent.actor,
                        action="update",
                        subject=intent.fqdn,
                        detail=f"ipv4={new.ipv4} ipv6={new.ipv6} offline={new.offline}"
                        + (" txt" if new.txt is not None else ""),
                        source=intent.source,
                        ts=now,
                    )
                )
            outcomes.append((future, intent.fqdn, changed))
        serials = await self.store.commit_host_states(
            list(pending.values()), audits, expect=list(expect.values())
        )
        for name, new_state in pending.items():
            self.hosts[name] = new_state
            serial = serials.get(new_state.zone)
            if serial is not None:
                self.catalog.apply_name(prepared[name], serial)
        for future, fqdn, changed in outcomes:
            if not future.done():
                found = self.hosts.get(fqdn) if fqdn else None
                future.set_result(UpdateOutcome(found, changed and found is not None))

    async def _commit_relay(self, switch: RelaySwitch) -> bool:
        current = self.hosts.get(switch.fqdn) or await self.store.host(switch.fqdn)
        if current is None:
            return False
        new = replace(current, relay_ipv4=switch.ipv4, relay_ipv6=switch.ipv6)
        prepared = self._prepare(new)
        serials = await self.store.set_relay(
            new, switch.session, switch.audit, bump=not same_host_data(current, new)
        )
        self.hosts[new.fqdn] = new
        serial = serials.get(new.zone)
        if serial is not None:
            self.catalog.apply_name(prepared, serial)
        return True

    def _prepare(self, host: HostRow) -> PreparedName:
        ttl = self.default_ttl.get(host.zone, 60)
        records = host_records(host, self._static.get(host.fqdn, []), ttl)
        return self.catalog.prepare_name(host.zone, host.fqdn, records)

    # -- following other processes' commits -----------------------------------------

    async def _watch(self) -> None:
        version = await self.store.commit_token()
        if version == self._data_version:
            return
        self._data_version = version
        changes = await self.store.changed_names_since(self._last_change)
        if changes and all(c.zone != ACCOUNTS and c.name is not None for c in changes):
            # Only names changed (another server instance's updates, a host added or
            # removed): read just those hosts, not every account.
            await self._refresh_hosts(sorted({c.name for c in changes if c.name is not None}))
        else:
            await self._load_accounts()
        done: set[tuple[str, str | None]] = set()
        names: list[tuple[str, str]] = []
        # A removed host's challenge rows went with it (ON DELETE CASCADE): serve that.
        for zone, name in self.challenges.drop_hosts(set(self.hosts)):
            done.add((zone, name))
            names.append((zone, name))
        for change in changes:
            self._last_change = max(self._last_change, change.seq)
            if change.zone == ACCOUNTS or (change.zone, change.name) in done:
                continue  # users: reloaded above; a name changed twice: loaded once
            done.add((change.zone, change.name))
            if change.name is None:
                await self._load_zone(change.zone)
            elif change.name not in self._unchanged:
                names.append((change.zone, change.name))
        if names:
            await self._load_names(names)
        self._unchanged.clear()
        for hook in self.after_reload:
            await hook()

    async def _refresh_hosts(self, names: list[str]) -> None:
        """Read ``names``' hosts from the store; note those that this view already serves.

        A host whose data equals what is served (this instance's own update coming
        back through the feed) needs no re-rendering.
        """
        fresh = {h.fqdn: h for h in await self.store.hosts_named(names)}
        for name in names:
            old = self.hosts.get(name)
            new = fresh.get(name)
            if new is None:
                self.hosts.pop(name, None)
                continue
            if old is not None and same_host_data(old, new) and name not in self._dirty:
                self._unchanged.add(name)
            self.hosts[name] = new

    async def _load_accounts(self) -> None:
        users = {u.name: u for u in await self.store.users()}
        for name, user in self.users.items():
            if users.get(name) != user:
                self.on_user_change(name)
        self.users = users
        self.hosts = {h.fqdn: h for h in await self.store.hosts()}
        rows = await self.store.tsig_keys()
        try:
            server = server_key(self.store.data_dir, create=False) if rows else None
        except ConfigError as exc:
            log.error("TSIG keys unusable: %s", exc)
            server = None
        if rows and server is None:
            log.error("TSIG keys unusable: no server key beside the database")
        self.keyring.hosts = keyring(server, rows)

    async def _load_zone(self, origin: str) -> None:
        zones = {z.origin: z for z in await self.store.zones()}
        zone = zones.get(origin)
        if zone is None:
            if origin in self.catalog.zones():
                self.catalog.drop_zone(origin)
            self.default_ttl.pop(origin, None)
            self.allow_private.pop(origin, None)
            return
        self.default_ttl[origin] = zone.default_ttl
        self.allow_private[origin] = zone.allow_private
        static = await self.store.records(origin)
        self._static_names.update(record.name for record in static)
        hosts = [h for h in self.hosts.values() if h.zone == origin]
        host_names = {h.fqdn for h in hosts}
        by_name: dict[str, list[Record]] = {}
        records: list[Record] = []
        for record in static:
            if record.name in host_names:
                by_name.setdefault(record.name, []).append(record)
            else:
                records.append(record)
        for host in hosts:
            self._static[host.fqdn] = by_name.get(host.fqdn, [])
            records.extend(host_records(host, self._static[host.fqdn], zone.default_ttl))
        records.extend(self.challenges.zone_records(origin))
        try:
            self.catalog.load_zone(origin, zone.soa, records)
        except ConfigError:
            # Startup never refuses data the store holds (an older version may have
            # accepted it): each row that cannot be rendered is logged and skipped.
            try:
                self.catalog.load_zone(origin, zone.soa, _servable(origin, records))
            except ConfigError as exc:
                log.error("zone %s is not served: %s", origin, exc)
                if origin in self.catalog.zones():
                    self.catalog.drop_zone(origin)

    async def _load_names(self, names: list[tuple[str, str]]) -> None:
        """Serve (zone, name) pairs as the store has them: two queries, however many names.

        Another instance's burst reaches this one as many names at once; each costs a
        render here, not a round trip.
        """
        zones = {z.origin: z for z in await self.store.zones()}
        static = await self.store.records_named(names)
        # Challenge values another instance wrote (its commit entered their names here).
        plain = [name for _, name in names]
        self.challenges.replace_names(plain, await self.store.challenges_named(plain, self.clock()))
        for origin, name in names:
            zone = zones.get(origin)
            if zone is None:
                continue  # removed since: its own change entry drops it
            if origin not in self.catalog.zones():
                await self._load_zone(origin)
                continue
            at_name = static.get((origin, name), [])
            host = self.hosts.get(name)
            if host is None:
                self._static.pop(name, None)
                records = at_name
            else:
                self._static[name] = at_name
                records = host_records(host, at_name, zone.default_ttl)
            if at_name:
                self._static_names.add(name)
            records = records + self.challenges.records(name)
            try:
                self.catalog.replace_name(origin, name, records, zone.soa.serial)
            except ConfigError:
                self.catalog.replace_name(origin, name, _servable(origin, records), zone.soa.serial)
            self._dirty.discard(name)

    # -- lookups for the HTTP layer -------------------------------------------------

    async def fresh_host(self, fqdn: str) -> HostRow | None:
        """The host as the store has it now (a new host or secret is usable at once)."""
        return await self.store.host(fqdn)

    async def fresh_user(self, name: str) -> UserRow | None:
        return await self.store.user(name)

    def zone_of(self, fqdn: str) -> str | None:
        """The most specific served zone containing ``fqdn`` (absolute, with dot)."""
        labels = fqdn.split(".")
        for i in range(len(labels) - 1):
            candidate = ".".join(labels[i:])
            if candidate in self.default_ttl:
                return candidate
        return None
