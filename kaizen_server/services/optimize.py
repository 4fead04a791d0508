"""Starting an optimization: checks, cost estimate, and the PENDING job record.

The job itself is run by the dispatcher (``kaizen_server.jobs.dispatch``) after the commit.

Example:
    >>> started = await start_optimization(session, "summarize_ticket")  # doctest: +SKIP
    >>> started.job.status  # doctest: +SKIP
    'PENDING'
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk.models import CostEstimate, JobStatus
from kaizen_server.db.models import ACTIVE_JOB_STATUSES, Feedback, OptimizationJob, Task
from kaizen_server.optimization.cost import estimate_for_task
from kaizen_server.services.errors import BadRequestError, ConflictError
from kaizen_server.services.tasks import find_task, task_views

__all__ = ["StartedOptimization", "active_job", "start_optimization"]


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
    session: AsyncSession, task_ref: str, *, triggered_by: str = "api"
) -> StartedOptimization:
    """Store a PENDING job for the task and commit.

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
    return StartedOptimization(job, estimate, warning)
