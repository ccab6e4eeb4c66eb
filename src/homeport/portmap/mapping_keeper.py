"""MappingKeeper: keep the agent's port mappings alive on the home router.

Interface for the agent (``[[mapping]]`` entries in its config)::

    from homeport.portmap.mapping_keeper import MappingKeeper, MappingSpec

    specs = [MappingSpec(external_port=443, internal_port=8443, protocol="tcp",
                         lease=3600, method="auto", keep=False)]
    async with MappingKeeper(specs, gateway=None) as keeper:   # creates them all at start
        async for event in keeper.events():                      # KeeperEvent values
            if event.kind == "external-ip":                      # GENA ExternalIPAddress
                trigger_dns_update(event.external_ip)
        ip = await keeper.external_ip()                          # an agent IP source

- ``start()`` creates every mapping (``method="auto"`` tries PCP, NAT-PMP, UPnP and keeps the
  one that granted). A mapping the router refuses is reported (``failed``) and retried with
  backoff; behind CGNAT/double NAT it is reported once (``no-mapping-possible``) and dropped,
  never retried in a loop.
- Each mapping is renewed at half its granted lease (RFC 6886 §3.3); UPnP mappings are also
  checked with GetSpecificPortMappingEntry every ``check_interval`` seconds and re-created if
  gone. A NAT-PMP/PCP epoch that went backwards (RFC 6886 §3.6, RFC 6887 §8.5) or a GENA event
  re-creates every mapping at once.
- ``stop()`` (or leaving ``async with``) removes every mapping whose spec has ``keep=False``.
- Events: ``events()`` is an async iterator; ``on_event`` (constructor) a callback. Kinds:
  ``created``, ``renewed``, ``recreated`` (it was gone), ``router-reboot``, ``external-ip``,
  ``failed``, ``no-mapping-possible``, ``removed``.
- ``kept``: the specs being renewed (or retried after a failure) since ``start()``; one
  dropped as ``no-mapping-possible`` is not among them, so nothing will ever retry it.
- ``external_ip()`` -> ``IPv4Address | None``: the router's external address (last seen, else
  asked). Never proof of reachability: behind CGNAT routers report the carrier's address.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address

from homeport.core.mapping import CHECK_INTERVAL, renew_at, retry_delay
from homeport.errors import HomeportError, NoMappingPossible
from homeport.io import gena as io_gena
from homeport.portmap.base import DEFAULT_DESCRIPTION, DEFAULT_LEASE, Mapping
from homeport.portmap.pcp import MemoryNonces
from homeport.portmap.router import Router
from homeport.portmap.upnp import UpnpMapper
from homeport.proto import gena

GENA_DURATION = gena.DEFAULT_TIMEOUT
GENA_RETRY = 10.0  # seconds between attempts to subscribe again after a failure
# events() keeps at most this many unread events (oldest dropped): an agent that only uses
# on_event must not grow memory with every renewal.
EVENT_BACKLOG = 256


@dataclass(frozen=True)
class MappingSpec:
    """A mapping the agent wants; ``lease`` is asked for, the router may grant less."""

    external_port: int
    internal_port: int
    protocol: str = "tcp"
    lease: int = DEFAULT_LEASE
    method: str = "auto"
    keep: bool = False
    description: str = DEFAULT_DESCRIPTION


@dataclass(frozen=True)
class KeeperEvent:
    kind: str
    spec: MappingSpec | None = None
    mapping: Mapping | None = None
    external_ip: IPv4Address | None = None
    detail: str = ""


class MappingKeeper:
    def __init__(
        self,
        specs: Sequence[MappingSpec],
        *,
        gateway: str | None = None,
        upnp_location: str | None = None,
        on_event: Callable[[KeeperEvent], None] | None = None,
        gena_events: bool = True,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        self.specs = tuple(specs)
        self.router = Router(
            gateway, nonces=MemoryNonces(), upnp_location=upnp_location, keeper=True
        )
        self.on_event = on_event
        self.gena_events = gena_events
        self.check_interval = check_interval
        self.mappings: dict[MappingSpec, Mapping] = {}
        self.kept: tuple[MappingSpec, ...] = ()  # renewed or retried; see start()
        self._queue: asyncio.Queue[KeeperEvent] = asyncio.Queue(EVENT_BACKLOG)
        self._wake: dict[MappingSpec, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._external: IPv4Address | None = None
        self._listener: io_gena.NotifyListener | None = None
        self._subscription: gena.Subscription | None = None
        self._upnp: UpnpMapper | None = None
        self._resubscribe = asyncio.Event()

    # -- public ------------------------------------------------------------------------------
    async def __aenter__(self) -> MappingKeeper:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        kept = []
        for spec in self.specs:
            self._wake[spec] = asyncio.Event()
            try:
                await self._create(spec)
            except NoMappingPossible:
                continue  # reported once; retrying cannot help
            kept.append(spec)
        if self.gena_events:
            await self._start_gena()
        self.kept = tuple(kept)
        self._tasks += [asyncio.create_task(self._keep(spec)) for spec in kept]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for spec, mapping in list(self.mappings.items()):
            if spec.keep:
                continue
            try:
                mapper = await self.router.mapper(mapping.method)
                await mapper.remove(
                    protocol=mapping.protocol,
                    external_port=mapping.external_port,
                    internal_port=mapping.internal_port,
                )
                self._emit(KeeperEvent("removed", spec, mapping))
            except HomeportError as exc:
                self._emit(KeeperEvent("failed", spec, mapping, detail=f"remove: {exc}"))
            del self.mappings[spec]
        await self._stop_gena()
        await self.router.close()

    async def events(self) -> AsyncIterator[KeeperEvent]:
        while True:
            yield await self._queue.get()

    async def external_ip(self) -> IPv4Address | None:
        if self._external is None:
            for mapping in self.mappings.values():
                with contextlib.suppress(HomeportError):
                    found = await (await self.router.mapper(mapping.method)).external_ip()
                    if found is not None:
                        self._note_external(found)
                        break
        return self._external

    # -- internals ---------------------------------------------------------------------------
    def _emit(self, event: KeeperEvent) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(event)
        if self.on_event is not None:
            self.on_event(event)

    def _note_external(self, address: IPv4Address | None) -> None:
        if address is not None and address != self._external:
            previous, self._external = self._external, address
            if previous is not None:
                self._emit(KeeperEvent("external-ip", external_ip=address, detail=str(previous)))

    def _wake_all(self) -> None:
        for event in self._wake.values():
            event.set()

    async def _create(self, spec: MappingSpec, *, kind: str = "created") -> bool:
        previous = self.mappings.get(spec)
        method = previous.method if previous else spec.method
        try:
            mapping = await self.router.add(
                method=method,
                protocol=spec.protocol,
                # Renew the port we were granted, so the public port stays the same.
                external_port=previous.external_port if previous else spec.external_port,
                internal_port=spec.internal_port,
                lease=spec.lease,
                description=spec.description,
            )
        except NoMappingPossible as exc:
            self._emit(KeeperEvent("no-mapping-possible", spec, detail=str(exc)))
            raise
        except HomeportError as exc:
            self._emit(KeeperEvent("failed", spec, previous, detail=str(exc)))
            return False
        self.mappings[spec] = mapping
        mapper = await self.router.mapper(mapping.method)
        if mapper.reboot_detected:
            mapper.reboot_detected = False
            self._emit(KeeperEvent("router-reboot", spec, mapping, detail=mapping.method))
            self._resubscribe.set()
            self._wake_all()
        self._emit(KeeperEvent(kind, spec, mapping))
        return True

    async def _keep(self, spec: MappingSpec) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        granted_at = last_check = loop.time()
        while True:
            mapping = self.mappings.get(spec)
            if mapping is None and failures == 0 and spec not in self.mappings:
                failures = 1  # creation failed at start: retry with backoff
            now = loop.time()
            if failures:
                due = now + retry_delay(failures)
            else:
                assert mapping is not None
                due = renew_at(granted_at, mapping.lease)
                if mapping.method == "upnp":
                    due = min(due, last_check + self.check_interval)
            wake = self._wake[spec]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), max(0.0, due - now))
            woken = wake.is_set()
            wake.clear()
            mapping = self.mappings.get(spec)
            now = loop.time()
            if (
                mapping is not None
                and mapping.method == "upnp"
                and not woken
                and not failures
                and now < renew_at(granted_at, mapping.lease)
            ):
                last_check = now
                if await self._still_there(spec, mapping):
                    continue
                kind = "recreated"
            else:
                kind = "recreated" if woken or failures else "renewed"
            try:
                ok = await self._create(spec, kind=kind)
            except NoMappingPossible:
                return
            if ok:
                failures = 0
                granted_at = last_check = loop.time()
                wake.clear()  # just renewed: a wake-up raised meanwhile (even our own) is met
            else:
                failures += 1

    async def _still_there(self, spec: MappingSpec, mapping: Mapping) -> bool:
        try:
            found = await (await self.router.mapper("upnp")).exists(mapping)
        except HomeportError as exc:
            self._emit(KeeperEvent("failed", spec, mapping, detail=f"check: {exc}"))
            return True  # cannot tell; the renewal will find out
        return found is not False

    # -- GENA --------------------------------------------------------------------------------
    async def _start_gena(self) -> None:
        try:
            upnp = await self.router.upnp()
            self._note_external(await upnp.external_ip())
        except HomeportError:
            return  # no UPnP: NAT-PMP/PCP epochs and the renewals still cover reboots
        if not upnp.service.event_url:
            return
        self._upnp = upnp
        listener = io_gena.NotifyListener(self.router.internal_host)
        try:
            callback = await listener.start()
            self._subscription = await io_gena.subscribe(
                upnp.session, upnp.service.event_url, callback, GENA_DURATION
            )
        except HomeportError as exc:
            await listener.close()
            self._emit(KeeperEvent("failed", detail=f"GENA subscribe: {exc}"))
            return
        self._listener = listener
        self._tasks.append(asyncio.create_task(self._gena_events(listener)))
        self._tasks.append(asyncio.create_task(self._gena_renew()))

    async def _gena_events(self, listener: io_gena.NotifyListener) -> None:
        while True:
            notify = await listener.events.get()
            if self._subscription and notify.sid and notify.sid != self._subscription.sid:
                continue
            text = notify.variables.get("ExternalIPAddress")
            if text:
                try:
                    addr = ip_address(text)
                except ValueError:
                    continue
                if isinstance(addr, IPv4Address) and addr != self._external:
                    first = self._external is None
                    self._note_external(addr)
                    if not first:
                        self._wake_all()  # a new WAN address: make sure mappings survived

    async def _gena_renew(self) -> None:
        """Renew at half the granted duration; subscribe afresh when renewal fails or the
        router rebooted (a rebooted device has forgotten every subscription)."""
        assert self._upnp is not None
        assert self._listener is not None
        while True:
            wait = self._subscription.timeout / 2 if self._subscription else GENA_RETRY
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resubscribe.wait(), max(1.0, wait))
            fresh = self._resubscribe.is_set()
            self._resubscribe.clear()
            url = self._upnp.service.event_url
            if self._subscription is not None and not fresh:
                try:
                    self._subscription = await io_gena.renew(
                        self._upnp.session, url, self._subscription.sid, GENA_DURATION
                    )
                    continue
                except HomeportError:
                    pass  # e.g. 412: the device forgot us; subscribe again
            try:
                self._subscription = await io_gena.subscribe(
                    self._upnp.session, url, self._listener.url, GENA_DURATION
                )
            except HomeportError as exc:
                self._subscription = None
                self._emit(KeeperEvent("failed", detail=f"GENA subscribe: {exc}"))

    async def _stop_gena(self) -> None:
        if self._subscription is not None and self._upnp is not None:
            with contextlib.suppress(HomeportError):
                await io_gena.unsubscribe(
                    self._upnp.session, self._upnp.service.event_url, self._subscription.sid
                )
        self._subscription = None
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
