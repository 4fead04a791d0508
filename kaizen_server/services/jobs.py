"""Optimization jobs: look up one, list them newest first, retry a failed pull request.

(Jobs are started in one place: :mod:`kaizen_server.services.optimize`.)

Example:
    >>> job = await find_job(session, "2f1c...")  # doctest: +SKIP
    >>> job = await retry_pull_request(session, database, job_id)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk.models import JobStatus
from kaizen_server.db.engine import Database
from kaizen_server.db.models import OptimizationJob, PromptVersion, Task
from kaizen_server.optimization.job_store import finish_job
from kaizen_server.optimization.publishing import PullRequestError, open_pull_request
from kaizen_server.optimization.result_handling import pull_request_spec
from kaizen_server.services.errors import BadRequestError, ConflictError, ServiceError
from kaizen_server.services.pagination import Page
from kaizen_server.services.tasks import find_row, list_task_rows, task_views

__all__ = ["PullRequestRetryError", "find_job", "list_jobs", "retry_pull_request"]


class PullRequestRetryError(ServiceError, status=502):
    """The pull request failed again (the job stays PR_FAILED with the new error)."""


async def find_job(session: AsyncSession, job_ref: str) -> OptimizationJob:
    """The job with id ``job_ref``; :class:`NotFoundError` for unknown or non-UUID ids."""
    return await find_row(session, OptimizationJob, job_ref, "Job")


async def list_jobs(
    session: AsyncSession, *, task_ref: str | None, limit: int, cursor: str | None
) -> Page[OptimizationJob]:
    """Jobs newest first, optionally of one task (by UUID or name)."""
    return await list_task_rows(
        session, OptimizationJob, task_ref=task_ref, limit=limit, cursor=cursor
    )


async def retry_pull_request(
    session: AsyncSession, database: Database, job_ref: str
) -> OptimizationJob:
    """Open the pull request of a PR_FAILED job again; the job is SUCCESS with ``pr_url`` when
    it works, else stays PR_FAILED with the new error (:class:`PullRequestRetryError`)."""
    job = await find_job(session, job_ref)
    if job.status != JobStatus.PR_FAILED.value:
        raise ConflictError(
            f"Job {job.id} is {job.status}; only a PR_FAILED job's pull request can be retried"
        )
    version = (
        await session.get(PromptVersion, job.prompt_version_id)
        if job.prompt_version_id is not None
        else None
    )
    task = await session.get(Task, job.task_id)
    if version is None or task is None:
        raise ConflictError(f"Job {job.id} has no stored prompt version to propose")
    (wire_task,) = await task_views(session, [task])
    baseline = (job.job_metadata or {}).get("baseline_score")
    spec = pull_request_spec(
        wire_task, version, str(job.id), baseline if isinstance(baseline, float) else None
    )
    if spec is None:
        raise BadRequestError(f"Task {task.name!r} has no github_repo configured any more")
    job_id = str(job.id)
    await session.rollback()  # end the read transaction before the slow push
    try:
        pr_url = await asyncio.to_thread(open_pull_request, spec)
    except PullRequestError as exc:
        await finish_job(
            database,
            job_id,
            JobStatus.PR_FAILED,
            error_message=str(exc),
            allowed=[JobStatus.PR_FAILED.value],
        )
        raise PullRequestRetryError(f"The pull request failed again: {exc}") from exc
    await finish_job(
        database, job_id, JobStatus.SUCCESS, pr_url=pr_url, allowed=[JobStatus.PR_FAILED.value]
    )
    return await find_job(session, job_id)
