"""Database side of an optimization job: claim it, report progress, load inputs, finish it.

Every status change is a conditional ``UPDATE`` (e.g. only a PENDING job can be claimed, only
a non-terminal job can be finished), so the job process, the runner that enforces the time
limit and a restarted server never overwrite each other's verdict.

Example:
    >>> claimed = await claim_job(database, job_id)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk.models import JobStatus, PromptStatus
from kaizen_sdk.models import Task as WireTask
from kaizen_server.db.columns import utc_now
from kaizen_server.db.engine import Database
from kaizen_server.db.models import (
    ACTIVE_JOB_STATUSES,
    Feedback,
    OptimizationJob,
    PromptVersion,
    Task,
    Trace,
)
from kaizen_server.optimization.feedback_rows import FeedbackRow
from kaizen_server.services import lifecycle_log
from kaizen_server.services.tasks import task_views

__all__ = [
    "MAX_FEEDBACK_ROWS",
    "MAX_UNSCORED_TRACES",
    "JobInputs",
    "claim_job",
    "fail_stale_jobs",
    "finish_job",
    "load_job_inputs",
    "pending_job_ids",
    "set_progress",
]

MAX_FEEDBACK_ROWS = 5000
"""Newest feedback rows a job reads (the optimizer never needs more)."""
MAX_UNSCORED_TRACES = 1000
"""Newest unscored traces a job reads (the judge scores at most ``KAIZEN_TRACE_JUDGE_LIMIT``)."""


@dataclass(frozen=True)
class JobInputs:
    """What the job process loads before running the pipeline."""

    job: OptimizationJob
    task: WireTask
    feedback: list[FeedbackRow]
    active_prompt: PromptVersion | None
    traces: list[FeedbackRow] = dataclasses.field(default_factory=list)
    """Unscored traces without a feedback row (newest first, at most ``MAX_UNSCORED_TRACES``),
    as rows with no score: the judge may score them."""


def _uuid(job_id: str | uuid.UUID) -> uuid.UUID:
    return job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))


async def _update(
    session: AsyncSession, job_id: str | uuid.UUID, allowed: Sequence[str], **values: Any
) -> bool:
    result = await session.execute(
        update(OptimizationJob)
        .where(OptimizationJob.id == _uuid(job_id), OptimizationJob.status.in_(list(allowed)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return bool(getattr(result, "rowcount", 0))


async def _task_name(session: AsyncSession, task_id: uuid.UUID) -> str | None:
    name: str | None = await session.scalar(select(Task.name).where(Task.id == task_id))
    return name


async def _task_name_of_job(session: AsyncSession, job_id: str | uuid.UUID) -> str | None:
    name: str | None = await session.scalar(
        select(Task.name)
        .join(OptimizationJob, OptimizationJob.task_id == Task.id)
        .where(OptimizationJob.id == _uuid(job_id))
    )
    return name


async def claim_job(database: Database, job_id: str) -> bool:
    """PENDING -> RUNNING (with ``started_at``); False when the job is not PENDING any more."""
    async with database.writer() as session:
        task_name = await _task_name_of_job(session, job_id)
        claimed = await _update(
            session,
            job_id,
            [JobStatus.PENDING.value],
            status=JobStatus.RUNNING.value,
            started_at=utc_now(),
            progress_step="starting",
        )
        if claimed:
            lifecycle_log.job_started(str(job_id), task_name)
        return claimed


async def set_progress(database: Database, job_id: str, step: str) -> None:
    """Show ``step`` as the RUNNING job's ``progress_step``, and append it to the step history
    in ``job_metadata["progress"]`` (``[{"step": ..., "at": ISO time}, ...]``)."""
    async with database.writer() as session:
        job = await session.get(OptimizationJob, _uuid(job_id))
        if job is None:
            return
        metadata = dict(job.job_metadata or {})
        history = [*metadata.get("progress", []), {"step": step, "at": utc_now().isoformat()}]
        metadata["progress"] = history
        task_name = await _task_name(session, job.task_id)
        if await _update(
            session,
            job_id,
            [JobStatus.RUNNING.value],
            progress_step=step[:500],
            job_metadata=metadata,
        ):
            lifecycle_log.job_step(str(job_id), task_name, step)


async def finish_job(
    database: Database,
    job_id: str,
    status: JobStatus,
    *,
    error_message: str | None = None,
    pr_url: str | None = None,
    prompt_version_id: uuid.UUID | None = None,
    metadata: dict[str, Any] | None = None,
    result: str | None = None,
    allowed: Sequence[str] = ACTIVE_JOB_STATUSES,
) -> bool:
    """Set a terminal ``status`` unless the job already left ``allowed`` (someone else decided).

    ``metadata`` is merged into the stored ``job_metadata`` (the cost estimate stays).
    """
    async with database.writer() as session:
        job = await session.get(OptimizationJob, _uuid(job_id))
        if job is None:
            return False
        merged = {**(job.job_metadata or {}), **(metadata or {})}
        values: dict[str, Any] = {
            "status": status.value,
            "completed_at": utc_now(),
            "error_message": error_message[:4000] if error_message else None,
            "job_metadata": merged,
        }
        if result is not None:
            values["result"] = result
        if pr_url is not None:
            values["pr_url"] = pr_url
        if prompt_version_id is not None:
            values["prompt_version_id"] = prompt_version_id
        started_at, stored_result = job.started_at, job.result
        task_name = await _task_name(session, job.task_id)
        finished = await _update(session, job_id, allowed, **values)
        if finished:
            duration = merged.get("duration_s")
            if not isinstance(duration, int | float) and started_at is not None:
                duration = round((values["completed_at"] - started_at).total_seconds(), 3)
            lifecycle_log.job_finished(
                str(job_id),
                task_name,
                status=status.value,
                result=result or stored_result,
                version=merged.get("version_number"),
                duration_s=duration if isinstance(duration, int | float) else None,
                error=error_message,
            )
        return finished


async def load_job_inputs(database: Database, job_id: str) -> JobInputs:
    """The job, its task (wire model), its newest feedback, the task's active prompt and its
    newest unscored traces."""
    async with database.reader() as session:
        job = await session.get(OptimizationJob, _uuid(job_id))
        if job is None:
            raise LookupError(f"job {job_id} not found")
        task = await session.get(Task, job.task_id)
        if task is None:
            raise LookupError(f"task of job {job_id} not found")
        (wire_task,) = await task_views(session, [task])
        rows = await session.scalars(
            select(Feedback)
            .where(Feedback.task_id == task.id)
            .order_by(Feedback.created_at.desc())
            .limit(MAX_FEEDBACK_ROWS)
        )
        feedback = [
            FeedbackRow(
                id=str(row.id),
                inputs=row.inputs,
                output=row.output,
                score=row.score,
                from_trace=row.trace_id is not None,
            )
            for row in rows
        ]
        unscored = await session.scalars(
            select(Trace)
            .where(
                Trace.task_id == task.id,
                Trace.score.is_(None),
                Trace.response_text.is_not(None),
                ~exists().where(Feedback.trace_id == Trace.id),
            )
            .order_by(Trace.created_at.desc())
            .limit(MAX_UNSCORED_TRACES)
        )
        traces = [
            FeedbackRow(
                id=str(row.id), inputs=row.inputs, output=row.response_text, from_trace=True
            )
            for row in unscored
        ]
        active = await session.scalar(
            select(PromptVersion).where(
                PromptVersion.task_id == task.id,
                PromptVersion.status == PromptStatus.ACTIVE.value,
            )
        )
        return JobInputs(
            job=job, task=wire_task, feedback=feedback, active_prompt=active, traces=traces
        )


async def fail_stale_jobs(database: Database, reason: str) -> list[str]:
    """Mark every RUNNING job FAILURE with ``reason`` (start-up of a single-process server)."""
    async with database.writer() as session:
        stale = list(
            await session.scalars(
                select(OptimizationJob.id).where(OptimizationJob.status == JobStatus.RUNNING.value)
            )
        )
    for job_id in stale:
        await finish_job(
            database,
            str(job_id),
            JobStatus.FAILURE,
            error_message=reason,
            allowed=[JobStatus.RUNNING.value],
        )
    return [str(job_id) for job_id in stale]


async def pending_job_ids(database: Database) -> list[str]:
    """PENDING jobs, oldest first."""
    async with database.reader() as session:
        rows = await session.scalars(
            select(OptimizationJob.id)
            .where(OptimizationJob.status == JobStatus.PENDING.value)
            .order_by(OptimizationJob.created_at)
        )
        return [str(job_id) for job_id in rows]
