"""Starting an optimization, the one place a job starts: by the API or by the auto-trigger.

:func:`start_optimization` checks the task, estimates the cost, stores the PENDING job,
commits and hands the job to the dispatcher (``kaizen_server.optimization.dispatch``), which
runs it. :func:`trigger_after_feedback` calls it when a task's new feedback reaches its
threshold, and :func:`queue_due_optimizations` for tasks that ``record_feedback`` already found
due inside its own write transaction (no second session per request).

The auto-trigger: which feedback is "new" is defined once, in
``kaizen_server.services.optimization_window`` (feedback stored since the last job that
consumed it was queued). The check (``threshold_reached``) runs once per request and task (a
batch of 1000 rows is one check), and costs little: one query while a job is already PENDING
or RUNNING (no second one could be queued), else a count that stops at the threshold.
Concurrent requests crossing the threshold together queue exactly one job: the check is
repeated inside the write transaction that inserts the job (so a job queued, or even finished,
meanwhile is seen), and the database's partial unique index allows one PENDING/RUNNING job per
task, so the losers get a conflict, which is the expected outcome here. A failing trigger is
logged, never raised: the feedback is already stored and its request must succeed.

Example:
    >>> started = await start_optimization(session, dispatcher, "summarize_ticket")
    ... # doctest: +SKIP
    >>> started.job.status  # doctest: +SKIP
    'PENDING'
    >>> await trigger_after_feedback(database, dispatcher, [record.task_id])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk.models import CostEstimate, JobStatus
from kaizen_server.db.engine import Database
from kaizen_server.db.models import ACTIVE_JOB_STATUSES, Feedback, OptimizationJob, Task
from kaizen_server.optimization.cost import estimate_for_task
from kaizen_server.optimization.dispatch import JobDispatcher
from kaizen_server.services import lifecycle_log
from kaizen_server.services.errors import BadRequestError, ConflictError
from kaizen_server.services.optimization_window import AUTO_TRIGGERED_BY, threshold_reached
from kaizen_server.services.tasks import find_task, task_views

__all__ = [
    "TRIGGERED_BY",
    "StartedOptimization",
    "active_job",
    "queue_due_optimizations",
    "start_optimization",
    "trigger_after_feedback",
]

log = logging.getLogger(__name__)

TRIGGERED_BY = AUTO_TRIGGERED_BY
"""``triggered_by`` of auto-triggered jobs."""


@dataclass(frozen=True)
class StartedOptimization:
    """The stored PENDING job, its cost estimate and the budget warning (if any)."""

    job: OptimizationJob
    cost_estimate: CostEstimate
    budget_warning: str | None


async def active_job(session: AsyncSession, task: Task) -> OptimizationJob | None:
    """The PENDING or RUNNING job of ``task``, if there is one."""
    return await session.scalar(
        select(OptimizationJob)
        .where(OptimizationJob.task_id == task.id, OptimizationJob.status.in_(ACTIVE_JOB_STATUSES))
        .limit(1)
    )


def _conflict(task_name: str, job: OptimizationJob | None) -> ConflictError:
    which = f" ({job.id}, {job.status})" if job is not None else ""
    return ConflictError(f"An optimization job{which} is already active for task {task_name!r}")


async def start_optimization(
    session: AsyncSession, dispatcher: JobDispatcher, task_ref: str, *, triggered_by: str = "api"
) -> StartedOptimization:
    """Store a PENDING job for the task, commit, and hand it to ``dispatcher``.

    Raises :class:`BadRequestError` when the task has no feedback and :class:`ConflictError`
    when a job is already PENDING or RUNNING (race-safe: a partial unique index backs it).
    """
    task = await find_task(session, task_ref)
    feedback_count = int(
        await session.scalar(
            select(func.count()).select_from(Feedback).where(Feedback.task_id == task.id)
        )
        or 0
    )
    if feedback_count == 0:
        raise BadRequestError(f"Task {task.name!r} has no feedback to optimize on yet")
    running = await active_job(session, task)
    if running is not None:
        raise _conflict(task.name, running)
    task_model = (await task_views(session, [task]))[0]
    estimate, warning = estimate_for_task(task_model, feedback_count)
    job = OptimizationJob(
        task_id=task.id,
        status=JobStatus.PENDING.value,
        triggered_by=triggered_by,
        feedback_count=feedback_count,
        job_metadata={"cost_estimate": estimate.model_dump(), "budget_warning": warning},
    )
    session.add(job)
    task_name = task.name
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise _conflict(task_name, None) from exc
    await dispatcher.dispatch(str(job.id))
    lifecycle_log.job_queued(str(job.id), task_name, triggered_by)
    return StartedOptimization(job, estimate, warning)


async def _queue_if_due(
    database: Database, dispatcher: JobDispatcher, task_id: uuid.UUID
) -> str | None:
    try:
        async with database.writer() as session:
            if not await threshold_reached(session, task_id):
                return None  # another request queued the job since our read
            started = await start_optimization(
                session, dispatcher, str(task_id), triggered_by=TRIGGERED_BY
            )
    except ConflictError:
        return None  # a job is already queued or running: that one will see this feedback
    return str(started.job.id)


async def _read_check_then_queue(
    database: Database, dispatcher: JobDispatcher, task_id: uuid.UUID
) -> str | None:
    async with database.reader() as session:
        if not await threshold_reached(session, task_id):
            return None  # the common case, decided without taking the write lock
    return await _queue_if_due(database, dispatcher, task_id)


async def _each_task(
    task_ids: Iterable[uuid.UUID], queue: Callable[[uuid.UUID], Awaitable[str | None]]
) -> list[str]:
    queued: list[str] = []
    for task_id in dict.fromkeys(task_ids):
        try:
            job_id = await queue(task_id)
        except Exception:
            log.exception("auto-trigger of an optimization for task %s failed", task_id)
            continue
        if job_id is not None:
            queued.append(job_id)
    return queued


async def trigger_after_feedback(
    database: Database, dispatcher: JobDispatcher, task_ids: Iterable[uuid.UUID]
) -> list[str]:
    """Queue a job for each task whose new feedback reached its threshold; never raises.

    Returns the ids of the jobs queued by this call.
    """
    return await _each_task(
        task_ids, lambda task_id: _read_check_then_queue(database, dispatcher, task_id)
    )


async def queue_due_optimizations(
    database: Database, dispatcher: JobDispatcher, due_task_ids: Iterable[uuid.UUID]
) -> list[str]:
    """:func:`trigger_after_feedback` for tasks already found due inside the transaction
    that stored their feedback (``FeedbackRecord.task_due``): no second read; the check is
    still repeated in the transaction that queues the job. Never raises."""
    return await _each_task(
        due_task_ids, lambda task_id: _queue_if_due(database, dispatcher, task_id)
    )
