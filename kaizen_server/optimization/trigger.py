"""Auto-trigger: queue one optimization job when a task's new feedback reaches its threshold.

Which feedback is "new" is defined once, in ``kaizen_server.services.optimization_window``
(feedback stored since the last job that consumed it was queued). The check runs once per
request and task (a batch of 1000 rows is one check), and costs little: one query while a job
is already PENDING or RUNNING (no second one could be queued), else a count that stops at the
threshold. Concurrent requests crossing the threshold together queue exactly one job: the
check is repeated inside the write transaction that inserts the job (so a job queued, or even
finished, meanwhile is seen), and the database's partial unique index allows one
PENDING/RUNNING job per task, so the losers get a conflict, which is the expected outcome here.
A failing trigger is logged, never raised: the feedback is already stored and its request
must succeed.

Example:
    >>> await trigger_after_feedback(context, [record.task_id])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from functools import cache

from sqlalchemy import Select, Uuid, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.context import ServerContext
from kaizen_server.db.models import ACTIVE_JOB_STATUSES, OptimizationJob, Task
from kaizen_server.services.errors import ConflictError
from kaizen_server.services.optimization_window import AUTO_TRIGGERED_BY, feedback_in_window
from kaizen_server.services.optimize import start_optimization

__all__ = ["TRIGGERED_BY", "trigger_after_feedback"]

log = logging.getLogger(__name__)

TRIGGERED_BY = AUTO_TRIGGERED_BY
"""``triggered_by`` of auto-triggered jobs."""


@cache
def _threshold_and_active_job() -> Select[int, bool]:
    """The threshold of task ``:task_id`` and whether it has a PENDING/RUNNING job."""
    task_id = bindparam("task_id", type_=Uuid())
    active = exists().where(
        OptimizationJob.task_id == task_id, OptimizationJob.status.in_(ACTIVE_JOB_STATUSES)
    )
    return select(Task.feedback_threshold, active).where(Task.id == task_id)


async def _threshold_reached(session: AsyncSession, task_id: uuid.UUID) -> bool:
    """True when the task has no active job and its new feedback reached its threshold."""
    row = (await session.execute(_threshold_and_active_job(), {"task_id": task_id})).first()
    if row is None or row[1]:
        return False  # no such task, or a job is queued or running: no second one now
    threshold = row[0]
    return await feedback_in_window(session, task_id, at_most=threshold) >= threshold


async def _maybe_trigger(context: ServerContext, task_id: uuid.UUID) -> str | None:
    async with context.database.reader() as session:
        if not await _threshold_reached(session, task_id):
            return None  # the common case, decided without taking the write lock
    try:
        async with context.database.writer() as session:
            if not await _threshold_reached(session, task_id):
                return None  # another request queued the job since our read
            started = await start_optimization(session, str(task_id), triggered_by=TRIGGERED_BY)
    except ConflictError:
        return None  # a job is already queued or running: that one will see this feedback
    job_id = str(started.job.id)
    await context.dispatcher.dispatch(job_id)
    return job_id


async def trigger_after_feedback(
    context: ServerContext, task_ids: Iterable[uuid.UUID]
) -> list[str]:
    """Queue a job for each task whose new feedback reached its threshold; never raises.

    Returns the ids of the jobs queued by this call.
    """
    queued: list[str] = []
    for task_id in dict.fromkeys(task_ids):
        try:
            job_id = await _maybe_trigger(context, task_id)
        except Exception:
            log.exception("auto-trigger of an optimization for task %s failed", task_id)
            continue
        if job_id is not None:
            queued.append(job_id)
    return queued
