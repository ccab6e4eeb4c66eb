"""What the HTTP challenge APIs share: who may set which challenge name, and the edit.

lego's httpreq (:mod:`.api_httpreq`) and acme-dns's API (:mod:`.api_acmedns`) both
end in :func:`set_challenge`: scope checked (:func:`homeport.core.challenge.owner_host`),
value checked, the change made by the store task, refusals logged and audited.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from homeport.core import challenge
from homeport.core.update_plan import Principal
from homeport.errors import HomeportError
from homeport.server.challenges import ChallengeEdit, ChallengeOp
from homeport.server.clientaddr import Address
from homeport.server.context import ApiContext
from homeport.server.store import AuditEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    status: int  # HTTP 200 done, 400 bad value, 403 not yours, 409 caps, 429 throttled, 503
    error: str = ""
    changed: bool = False


async def set_challenge(
    api: ApiContext,
    principal: Principal,
    name: str,
    value: str,
    *,
    add: bool,
    source: Address | None,
    api_name: str,
) -> Result:
    """Add (or delete) ``value`` at challenge ``name`` for ``principal``; the HTTP result."""
    service = api.service
    name = name.strip().lower()
    if not name.endswith("."):
        name += "."
    actor = principal.actor
    problem = challenge.value_problem(value)
    if problem is not None:
        await _refused(api, actor, name, problem, source, api_name)
        return Result(400, problem)
    owner = challenge.owner_host(name, service.hosts)
    host = service.hosts.get(owner) if owner is not None else None
    if host is None or not principal.may_update(host):
        reason = "not a challenge name of this account's hosts"
        await _refused(api, actor, name, reason, source, api_name)
        return Result(403, reason)
    if not principal.may_set({"ACME"}):
        reason = "this token may not set ACME challenges"
        await _refused(api, actor, name, reason, source, api_name)
        return Result(403, reason)
    if not api.admit(api.challenge_throttle, api.clock())(host.fqdn):
        await _refused(api, actor, name, "throttled", source, api_name)
        return Result(429, "too many updates for this host; try again later")
    edit = ChallengeEdit(
        zone=host.zone,
        host=host.fqdn,
        ops=(ChallengeOp(name, value, add),),
        actor=actor,
        source=str(source),
        api=api_name,
    )
    try:
        outcome = await service.edit_challenges(edit)
    except HomeportError as exc:
        log.error("challenge for %s not stored: %s", name, exc)
        return Result(503, "not stored; try again")
    if outcome.rcode:
        await _refused(api, actor, name, outcome.reason, source, api_name)
        return Result(409, outcome.reason)
    return Result(200, changed=outcome.changed)


async def _refused(
    api: ApiContext, actor: str, name: str, reason: str, source: Address | None, api_name: str
) -> None:
    # The name is the client's text: JSON-escaped, so no newline can forge a log line.
    shown = json.dumps(name[:80])
    log.warning("challenge %s by %s refused (api=%s): %s", shown, actor, api_name, reason)
    try:
        await api.service.store.append_audit(
            [
                AuditEntry(
                    actor=actor,
                    action="refused",
                    subject=json.dumps(name[:255])[1:-1],
                    detail=f"api={api_name} {reason}"[:200],
                    source=str(source),
                    ts=api.service.clock(),
                )
            ]
        )
    except HomeportError as exc:
        log.error("audit entry not stored: %s", exc)
