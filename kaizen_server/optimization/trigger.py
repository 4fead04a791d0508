"""Auto-trigger: queue one optimization job when a task's new feedback reaches its threshold.

"New" feedback is feedback that arrived after the last run that produced a version (SUCCESS or
PR_FAILED) started; after a failed auto-triggered run another threshold's worth must arrive.
Concurrent requests crossing the threshold together queue exactly one job: the database's
partial unique index allows one PENDING/RUNNING job per task and the losers get a conflict,
which is the expected outcome here. A failing trigger is logged, never raised: the
feedback is already stored and its request must succeed.

Example:
    >>> await trigger_after_feedback(context, [record.task_id])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk.models import JobStatus
from kaizen_server.context import ServerContext
from kaizen_server.db.models import Feedback, OptimizationJob, Task
from kaizen_server.services.errors import ConflictError
from kaizen_server.services.optimize import start_optimization

__all__ = ["TRIGGERED_BY", "feedback_since_last_optimization", "trigger_after_feedback"]

log = logging.getLogger(__name__)

TRIGGERED_BY = "threshold"
"""``triggered_by`` of auto-triggered jobs."""
_PRODUCED_A_VERSION = (JobStatus.SUCCESS.value, JobStatus.PR_FAILED.value)


async def _latest_start(
    session: AsyncSession, task_id: uuid.UUID, statuses: Sequence[str], triggered_by: str | None
) -> datetime | None:
    statement = select(func.max(OptimizationJob.started_at)).where(
        OptimizationJob.task_id == task_id, OptimizationJob.status.in_(list(statuses))
    )
    if triggered_by is not None:
        statement = statement.where(OptimizationJob.triggered_by == triggered_by)
    latest: datetime | None = await session.scalar(statement)
    return latest


async def _feedback_since(
    session: AsyncSession, task_id: uuid.UUID, since: datetime | None
) -> int:
    statement = select(func.count()).select_from(Feedback).where(Feedback.task_id == task_id)
    if since is not None:
        statement = statement.where(Feedback.created_at > since)
    return int(await session.scalar(statement) or 0)


async def feedback_since_last_optimization(session: AsyncSession, task_id: uuid.UUID) -> int:
    """Feedback rows of the task stored after the last version-producing job started."""
    since = await _latest_start(session, task_id, _PRODUCED_A_VERSION, None)
    return await _feedback_since(session, task_id, since)


async def _threshold_reached(session: AsyncSession, task_id: uuid.UUID, threshold: int) -> bool:
    if await feedback_since_last_optimization(session, task_id) < threshold:
        return False
    # After a failed auto-triggered run, wait for a threshold's worth of new feedback before
    # trying again, so a broken LM endpoint is not hit by a new job on every feedback post.
    failed = await _latest_start(session, task_id, [JobStatus.FAILURE.value], TRIGGERED_BY)
    return failed is None or await _feedback_since(session, task_id, failed) >= threshold


async def _maybe_trigger(context: ServerContext, task_id: uuid.UUID) -> str | None:
    async with context.database.reader() as session:
        threshold = await session.scalar(select(Task.feedback_threshold).where(Task.id == task_id))
        if threshold is None or not await _threshold_reached(session, task_id, threshold):
            return None
    try:
        async with context.database.writer() as session:
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
