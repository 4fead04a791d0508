"""The server ending the rollouts started with ``auto_decide`` as soon as the evidence says so.

Every ``KAIZEN_ROLLOUT_CHECK_SECONDS`` each replica looks at the running rollouts that asked
for it and applies the decision rule's recommendation: ``promote`` makes the candidate the
active version, ``roll_back`` stops the rollout, ``continue`` waits. The rule is the one the
API shows (:func:`kaizen_server.services.rollouts.rollout_view`): an always-valid test, so
looking at it this often does not raise its error rates. Replicas may check at the same time;
the task's row lock (PostgreSQL) or the single writer (SQLite) lets one of them end the
rollout and the others find it ended.

Example:
    >>> watcher = RolloutWatcher(database, broker, interval_s=30.0)  # doctest: +SKIP
    >>> await watcher.check_now()  # doctest: +SKIP
    [AutomaticDecision(task_id='9b1e...', rollout_id='3f2c...', action='promote', reason='...')]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from kaizen_sdk.models import RolloutStatus
from kaizen_server.db.engine import Database
from kaizen_server.db.models import Rollout
from kaizen_server.events.broker import PromptEventBroker
from kaizen_server.request_models import RolloutEnd
from kaizen_server.rollouts import RolloutAction
from kaizen_server.services.errors import ConflictError, NotFoundError
from kaizen_server.services.rollouts import promote_rollout, rollout_view, stop_rollout

__all__ = ["AutomaticDecision", "RolloutWatcher"]

log = logging.getLogger("kaizen_server.rollouts")


@dataclass(frozen=True, slots=True)
class AutomaticDecision:
    """One rollout the watcher ended: ``action`` is ``promote`` or ``roll_back``."""

    task_id: str
    rollout_id: str
    action: str
    reason: str


class RolloutWatcher:
    """Checks the running ``auto_decide`` rollouts every ``interval_s`` (from ``start`` to
    ``stop``) and ends those whose recommendation is no longer ``continue``."""

    def __init__(self, database: Database, broker: PromptEventBroker, interval_s: float) -> None:
        self._database = database
        self._broker = broker
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kaizen-rollout-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def check_now(self) -> list[AutomaticDecision]:
        """Apply the recommendation of every running ``auto_decide`` rollout once."""
        async with self._database.reader() as session:
            running = (
                await session.scalars(
                    select(Rollout.id).where(
                        Rollout.status == RolloutStatus.RUNNING.value, Rollout.auto_decide
                    )
                )
            ).all()
        decisions = []
        for rollout_id in running:
            decision = await self._decide(rollout_id)
            if decision is not None:
                decisions.append(decision)
        return decisions

    async def _decide(self, rollout_id: uuid.UUID) -> AutomaticDecision | None:
        async with self._database.reader() as session:
            rollout = await session.get(Rollout, rollout_id)
            if rollout is None or rollout.status != RolloutStatus.RUNNING.value:
                return None
            view = await rollout_view(session, rollout)
        action = RolloutAction(view.recommendation)
        if action is RolloutAction.CONTINUE:
            return None
        end = RolloutEnd(reason=f"automatic ({view.rule}): {view.reason}")
        end_rollout = promote_rollout if action is RolloutAction.PROMOTE else stop_rollout
        async with self._database.writer() as session:
            try:
                await end_rollout(session, self._broker, view.task_id, end, rollout_id=rollout_id)
            except (ConflictError, NotFoundError):  # another replica or an operator ended it
                return None
        return AutomaticDecision(
            task_id=view.task_id,
            rollout_id=view.id,
            action=action.value,
            reason=end.reason or "",
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.check_now()
            except Exception:  # a database hiccup must not end the watching
                log.exception("rollout check failed; retrying in %.1fs", self._interval_s)
