"""Failed-login budgets shared by the server instances of one PostgreSQL database.

:class:`~homeport.core.limits.FailureLimiter` bounds password and secret guessing per
source and per name. Behind a balancer a guesser's requests spread over N instances,
each with budgets of its own: N times the guesses. So each instance writes its
failures (the budget keys only: never a secret, a password or its hash) to the
``auth_failures`` table, and charges the failures the other instances wrote to its
own budgets. The other throttles stay per instance (see :mod:`homeport.core.limits`).

Sharing is eventual (every :data:`SHARE_INTERVAL`) and best effort: a failed write or
read is logged and tried again; no login waits on the database for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

from homeport.core.limits import IDLE_FORGET
from homeport.errors import StoreError
from homeport.server.store import Store

log = logging.getLogger(__name__)

# How often failures are written and the others' read: a guesser spreading over the
# instances gains at most this long of the others' failures (a few guesses).
SHARE_INTERVAL = 0.5
# Rows older than this are deleted: a bucket is forgotten after IDLE_FORGET anyway.
KEEP_FAILURES = IDLE_FORGET


class FailureSharing:
    """Writes this instance's failures; hands the other instances' to ``charge``."""

    def __init__(
        self,
        store: Store,
        charge: Callable[[str | None, str | None], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._charge = charge
        self._clock = clock
        self.instance = secrets.token_hex(8)
        self._pending: list[tuple[float, str | None, str | None]] = []
        self._seen = 0
        self._task: asyncio.Task[None] | None = None
        self.received = 0  # the other instances' failures charged here

    async def start(self) -> None:
        self._seen = await self._store.last_auth_failure()
        self._task = asyncio.create_task(self._run(), name="homeport-failure-sharing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def failed(self, name: str | None, source: str | None) -> None:
        """A failure this instance charged: to be written at the next share."""
        if self._task is not None and (name is not None or source is not None):
            self._pending.append((self._clock(), name, source))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SHARE_INTERVAL)
            try:
                await self.share()
            except StoreError as exc:
                log.warning("sharing failed logins with the other instances: %s", exc)

    async def share(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            try:
                await self._store.record_auth_failures(
                    self.instance, pending, self._clock() - KEEP_FAILURES
                )
            except StoreError:
                self._pending = pending + self._pending
                raise
        rows = await self._store.auth_failures_since(self._seen, self.instance)
        for seq, name, source in rows:
            self._seen = max(self._seen, seq)
            self._charge(name, source)
            self.received += 1
