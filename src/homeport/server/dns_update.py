"""RFC 2136 UPDATE with TSIG, and TSIG-signed queries, for the embedded DNS.

The answer code (:mod:`homeport.proto.dns_answer`) answers plain queries and
refuses what it does not know: another opcode (NOTIMP) or a signed message
(NOTAUTH). The DNS shells hand exactly those messages here (see
:meth:`UpdateHandler.udp` and :meth:`UpdateHandler.tcp`), so the hot path costs
nothing more. Here a signed message's TSIG is checked (:mod:`homeport.proto.tsig`),
a signed query is answered as usual and signed, and an UPDATE is decided
(:mod:`homeport.core.rfc2136`) and made by the store task: the response leaves
once the change is durable and DNS serves it.

Every refusal is logged: a bad or unknown key on the ``homeport.auth`` line (and it
spends the failure budgets as a wrong password does); an authenticated one that
the policy refuses also in the audit table.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import time
from collections.abc import Callable

import dns.exception
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.tsig
import dns.update

from homeport.core import rfc2136
from homeport.errors import HomeportError
from homeport.proto import dns_update, tsig
from homeport.server.challenges import ChallengeEdit, ChallengeOp
from homeport.server.clientaddr import Address
from homeport.server.context import ApiContext
from homeport.server.service import DdnsService
from homeport.server.store import AuditEntry

log = logging.getLogger(__name__)

# How long the UDP thread waits for an UPDATE's commit before dropping it (the client
# retries, over TCP if it is wise). A commit takes milliseconds; this bounds a stuck store.
UDP_UPDATE_WAIT = 5.0
_HANDLED = (dns.rcode.NOTIMP, dns.rcode.NOTAUTH)
_QR = 0x80


class UpdateHandler:
    """Signed queries and UPDATEs, for both DNS shells."""

    def __init__(
        self,
        service: DdnsService,
        api: ApiContext,
        loop: asyncio.AbstractEventLoop,
        *,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.api = api
        self.loop = loop
        self.wallclock = wallclock

    # -- the shells' entry points -------------------------------------------------------

    @staticmethod
    def wants(resp: bytes | None) -> bool:
        """Whether the answer code's ``resp`` is one this handler answers instead."""
        return resp is not None and len(resp) >= 4 and resp[3] & 15 in _HANDLED

    def udp(self, query: bytes) -> bytes | None:
        """From the UDP thread: the answer, computed on the event loop (blocks this thread)."""
        future = asyncio.run_coroutine_threadsafe(self.handle(query, None, tcp=False), self.loop)
        try:
            return future.result(UDP_UPDATE_WAIT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            log.warning("an UPDATE over UDP took longer than %.0f s: not answered", UDP_UPDATE_WAIT)
            return None

    def tcp(self, query: bytes, address: bytes) -> asyncio.Future[bytes | None]:
        """From the TCP protocol (event loop): a future of the answer."""
        return asyncio.ensure_future(self.handle(query, address, tcp=True))

    # -- the work -----------------------------------------------------------------------

    async def handle(self, query: bytes, address: bytes | None, *, tcp: bool) -> bytes | None:
        if len(query) < 12 or query[2] & _QR:
            return None
        source = _address(address)
        now = int(self.wallclock())
        try:
            msg = tsig.parse(query)
        except Exception:  # dnspython raises many types on garbage; all mean FORMERR
            return tsig.header_only(query, dns.rcode.FORMERR)
        signed = None
        if msg.tsig is not None:
            await self.service.ensure_fresh()  # a key issued a moment ago works at once
            if self.api.login.source_spent(source):
                return self._refusal(query, msg, None, dns.rcode.REFUSED, now)
            signed = tsig.check(query, msg, self.service.keyring.host_key, now)
            assert signed is not None
            if signed.verdict is not tsig.Verdict.OK:
                if signed.verdict is not tsig.Verdict.FORMERR:
                    self._auth_failure(source, signed)
                return tsig.refusal(query, msg, signed, now)
        opcode = msg.opcode()
        if opcode == dns.opcode.QUERY:
            if signed is None:
                return self.service.catalog.respond(query, tcp=tcp)
            inner = self.service.catalog.respond(tsig.unsigned(query, signed), tcp=tcp)
            return None if inner is None else tsig.sign(inner, signed, now)
        if opcode != dns.opcode.UPDATE or not isinstance(msg, dns.update.UpdateMessage):
            return self._refusal(query, msg, signed, dns.rcode.NOTIMP, now)
        if signed is None:
            # RFC 2136 §3.3: no permission without a key.
            log.warning("UPDATE refused from %s: not signed", source or "-")
            return self._refusal(query, msg, None, dns.rcode.REFUSED, now)
        rcode = await self._update(msg, signed, source)
        return self._refusal(query, msg, signed, rcode, now)

    async def _update(
        self, msg: dns.update.UpdateMessage, signed: tsig.Signed, source: Address | None
    ) -> int:
        entry = self.service.keyring.host(signed.key_name)
        if entry is None:  # removed between the check and now
            return dns.rcode.NOTAUTH
        host = entry.host
        zones = self.service.catalog.zones()
        decision = rfc2136.decide(msg, zones, host, self.service.hosts)
        actor = f"tsig:{signed.key_name.to_text()}"
        if decision.rcode:
            await self._audit_refusal(actor, msg, decision.reason, decision.rcode, source)
            return decision.rcode
        if not self.api.admit(self.api.challenge_throttle, self.api.clock())(host):
            await self._audit_refusal(actor, msg, "throttled", dns.rcode.REFUSED, source)
            return dns.rcode.REFUSED  # the same per-host rate as every other update API
        catalog = self.service.catalog
        zone = decision.zone
        prerequisites = decision.prerequisites

        def prerequisite(_: object) -> int:
            return rfc2136.prerequisites_rcode(
                prerequisites, lambda name: catalog.rdata_at(zone, name.to_text())
            )

        edit = ChallengeEdit(
            zone=zone,
            host=host,
            ops=tuple(ChallengeOp(op.name, op.value, op.add) for op in decision.ops),
            actor=actor,
            source=str(source) if source is not None else "dns",
            api="rfc2136",
            prerequisite=prerequisite if prerequisites else None,
        )
        try:
            outcome = await self.service.edit_challenges(edit)
        except HomeportError as exc:
            log.error("UPDATE by %s not stored: %s", actor, exc)
            return dns.rcode.SERVFAIL
        if outcome.rcode:
            await self._audit_refusal(actor, msg, outcome.reason, outcome.rcode, source)
        return outcome.rcode

    # -- answers and logs -----------------------------------------------------------------

    @staticmethod
    def _response(msg: dns.message.Message, rcode: int) -> bytes:
        response = dns.message.make_response(msg)
        response.set_rcode(dns.rcode.Rcode(rcode))
        return response.to_wire()

    def _refusal(
        self,
        query: bytes,
        msg: dns.message.Message,
        signed: tsig.Signed | None,
        rcode: int,
        now: int,
    ) -> bytes:
        fast = (
            dns_update.response(query, rcode) if isinstance(msg, dns.update.UpdateMessage) else None
        )
        try:
            wire = fast if fast is not None else self._response(msg, rcode)
        except dns.exception.DNSException:
            return tsig.header_only(query, rcode)
        return tsig.sign(wire, signed, now) if signed is not None else wire

    def _auth_failure(self, source: Address | None, signed: tsig.Signed) -> None:
        name = signed.key_name.to_text()
        self.api.login.failed_key("rfc2136", source, name, signed.verdict.value)

    async def _audit_refusal(
        self, actor: str, msg: dns.message.Message, reason: str, rcode: int, source: Address | None
    ) -> None:
        text = dns.rcode.to_text(dns.rcode.Rcode(rcode))
        subject = msg.question[0].name.to_text() if msg.question else "-"
        log.warning("UPDATE by %s refused (%s): %s", actor, text, reason)
        try:
            await self.service.store.append_audit(
                [
                    AuditEntry(
                        actor=actor,
                        action="refused",
                        subject=subject,
                        detail=f"api=rfc2136 rcode={text} {reason}"[:200],
                        source=str(source) if source is not None else "dns",
                        ts=self.wallclock(),
                    )
                ]
            )
        except HomeportError as exc:
            log.error("audit entry not stored: %s", exc)


def _address(packed: bytes | None) -> Address | None:
    if packed is None or len(packed) not in (4, 16):
        return None
    return ipaddress.ip_address(packed)
