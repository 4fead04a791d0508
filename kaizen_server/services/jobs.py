"""Optimization jobs: look up one, list them newest first, open or reject what a job proposes.

(Jobs are started in one place: :mod:`kaizen_server.services.optimize`.)

A job that stored an improved version may have a pull request to open: a ``pr_preview`` job
proposes one (``pr_review: awaiting_approval``, the preview in ``pr_preview``), an ``auto_pr``
job whose pull request failed is ``PR_FAILED``. :func:`create_pull_request` opens it (the job
gets ``pr_url``; asking again returns the same job), :func:`reject_job` rejects the job's
version instead. While a pull request is being opened the job says ``pr_review: approved``
without a ``pr_url``, and rejecting its version waits for the outcome (409).

Example:
    >>> job = await find_job(session, "2f1c...")  # doctest: +SKIP
    >>> job = await create_pull_request(session, database, job_id)  # doctest: +SKIP
    >>> job.pr_url  # doctest: +SKIP
    'https://github.com/acme/app/pull/7'
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk.models import JobStatus, PromptStatus, PullRequestPreview, PullRequestReview
from kaizen_server.db.engine import Database
from kaizen_server.db.models import OptimizationJob, PromptVersion, Task
from kaizen_server.optimization.publishing import (
    PullRequestError,
    PullRequestSpec,
    open_pull_request,
    preview_differences,
)
from kaizen_server.optimization.result_handling import pull_request_spec
from kaizen_server.services.errors import ConflictError, ServiceError
from kaizen_server.services.pagination import Page
from kaizen_server.services.prompts import reject_version
from kaizen_server.services.tasks import find_row, list_task_rows, task_views

__all__ = [
    "PullRequestRetryError",
    "create_pull_request",
    "find_job",
    "list_jobs",
    "reject_job",
    "retry_pull_request",
]

_PROPOSING = (PullRequestReview.AWAITING_APPROVAL.value, PullRequestReview.APPROVED.value)
"""``pr_review`` of a SUCCESS job whose proposed pull request may be opened (``approved``
without ``pr_url``: an opening that was interrupted, e.g. by a restart, and may be redone)."""
_PUBLISHABLE_VERSIONS = (PromptStatus.DRAFT.value, PromptStatus.ACTIVE.value)


class PullRequestRetryError(ServiceError, status=502):
    """Opening the pull request failed (the job is PR_FAILED with the error)."""


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


def _state(job: OptimizationJob) -> str:
    """The job's state in words, for a 409's detail: ``SUCCESS (result no_improvement)``."""
    parts = [f"result {job.result}"] if job.result else []
    if job.pr_review:
        parts.append(f"pr_review {job.pr_review}")
    return f"{job.status} ({', '.join(parts)})" if parts else job.status


async def create_pull_request(
    session: AsyncSession, database: Database, job_ref: str
) -> OptimizationJob:
    """Open the pull request a job proposes (``pr_preview``: the operator approves it) or
    failed to open (``PR_FAILED``). A job that already has one is returned as it is.

    Raises :class:`ConflictError` (409) when the job proposes nothing (still running, failed,
    ``optimize_only``, not improved, rejected), when its version is no longer a draft or
    active, or when the task's repository settings changed since the preview;
    :class:`PullRequestRetryError` (502) when opening fails (the job is then ``PR_FAILED``
    and a preview stays ``awaiting_approval``).

    Example:
        >>> job = await create_pull_request(session, database, job_id)  # doctest: +SKIP
        >>> job.status, job.pr_review  # doctest: +SKIP
        ('SUCCESS', 'approved')
    """
    job = await find_job(session, job_ref)
    if job.pr_url is not None:
        return job
    if job.pr_review == PullRequestReview.REJECTED.value:
        raise ConflictError(f"Job {job.id} is {_state(job)}: its version was rejected")
    proposing = job.status == JobStatus.SUCCESS.value and job.pr_review in _PROPOSING
    if not proposing and job.status != JobStatus.PR_FAILED.value:
        raise ConflictError(
            f"Job {job.id} is {_state(job)}: it proposes no pull request (create-pr opens the "
            "pull request of a pr_preview job awaiting approval or of a PR_FAILED job)"
        )
    return await _open(session, database, job, failure="The pull request failed")


async def retry_pull_request(
    session: AsyncSession, database: Database, job_ref: str
) -> OptimizationJob:
    """Open the pull request of a PR_FAILED job again; the job is SUCCESS with ``pr_url`` when
    it works, else stays PR_FAILED with the new error (:class:`PullRequestRetryError`)."""
    job = await find_job(session, job_ref)
    if job.status != JobStatus.PR_FAILED.value:
        raise ConflictError(
            f"Job {job.id} is {_state(job)}; only a PR_FAILED job's pull request can be retried"
        )
    if job.pr_review == PullRequestReview.REJECTED.value:
        raise ConflictError(f"Job {job.id} is {_state(job)}: its version was rejected")
    return await _open(session, database, job, failure="The pull request failed again")


async def _spec_of(session: AsyncSession, job: OptimizationJob) -> PullRequestSpec:
    """The pull request of the job's version under the task's current settings (checked
    against the stored preview, so what opens is what the operator saw)."""
    version = (
        await session.get(PromptVersion, job.prompt_version_id)
        if job.prompt_version_id is not None
        else None
    )
    task = await session.get(Task, job.task_id)
    if version is None or task is None:
        raise ConflictError(f"Job {job.id} has no stored prompt version to propose")
    if version.status not in _PUBLISHABLE_VERSIONS:
        raise ConflictError(
            f"Prompt version v{version.version_number} of job {job.id} is {version.status}: "
            "only a draft or active version's pull request is opened"
        )
    (wire_task,) = await task_views(session, [task])
    baseline = (job.job_metadata or {}).get("baseline_score")
    spec = pull_request_spec(
        wire_task, version, str(job.id), baseline if isinstance(baseline, float) else None
    )
    if spec is None:
        raise ConflictError(f"Task {task.name!r} has no github_repo configured any more")
    if task.git_token_encrypted:  # the task's own token, decrypted right before use
        spec = replace(spec, git_token_encrypted=task.git_token_encrypted)
    if job.pr_preview is not None:
        changes = preview_differences(PullRequestPreview.model_validate(job.pr_preview), spec)
        if changes:
            raise ConflictError(
                f"The task's pull request settings changed since job {job.id}'s preview "
                f"({'; '.join(changes)}): reject this job and run the optimization again"
            )
    return spec


async def _set(database: Database, job_id: uuid.UUID, where: list[Any], **values: Any) -> bool:
    """One conditional ``UPDATE`` of the job (committed); False when ``where`` did not hold."""
    async with database.writer() as writer:
        result = await writer.execute(
            update(OptimizationJob)
            .where(OptimizationJob.id == job_id, *where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        await writer.commit()
    return bool(getattr(result, "rowcount", 0))


async def _open(
    session: AsyncSession, database: Database, job: OptimizationJob, *, failure: str
) -> OptimizationJob:
    spec = await _spec_of(session, job)
    job_id, status = job.id, job.status
    after_failure = (
        PullRequestReview.AWAITING_APPROVAL.value if job.pr_preview is not None else None
    )
    await session.rollback()  # end the read transaction before the slow push
    version_open = (
        select(PromptVersion.id)
        .where(
            PromptVersion.id == OptimizationJob.prompt_version_id,
            PromptVersion.status.in_(_PUBLISHABLE_VERSIONS),
        )
        .exists()
    )
    claimed = await _set(
        database,
        job_id,
        [
            OptimizationJob.status == status,
            OptimizationJob.pr_url.is_(None),
            or_(OptimizationJob.pr_review.is_(None), OptimizationJob.pr_review.in_(_PROPOSING)),
            version_open,
        ],
        pr_review=PullRequestReview.APPROVED.value,
    )
    if not claimed:  # a concurrent create-pr, reject or retry decided first
        current = await find_job(session, str(job_id))
        if current.pr_url is not None:
            return current
        raise ConflictError(f"Job {job_id} changed meanwhile and is {_state(current)}")
    pending = [OptimizationJob.pr_url.is_(None)]
    try:
        pr_url = await asyncio.to_thread(open_pull_request, spec)
    except PullRequestError as exc:
        await _set(
            database,
            job_id,
            pending,
            status=JobStatus.PR_FAILED.value,
            error_message=str(exc)[:4000],
            pr_review=after_failure,
        )
        raise PullRequestRetryError(f"{failure}: {exc}") from exc
    await _set(
        database,
        job_id,
        pending,
        status=JobStatus.SUCCESS.value,
        error_message=None,
        pr_url=pr_url,
        pr_review=PullRequestReview.APPROVED.value,
    )
    return await find_job(session, str(job_id))


async def reject_job(session: AsyncSession, job_ref: str, reason: str | None) -> OptimizationJob:
    """Reject the prompt version a job stored (``rejected`` with ``reason``) and close its
    proposed pull request (``pr_review: rejected``). Rejecting again changes nothing.

    Raises :class:`ConflictError` (409) when the job stored no version (running, failed,
    unchanged) or its version is active or archived, or its pull request is being opened.

    Example:
        >>> job = await reject_job(session, job_id, "Too long for the mobile app.")
        ... # doctest: +SKIP
        >>> job.pr_review  # doctest: +SKIP
        'rejected'
    """
    job = await find_job(session, job_ref)
    if job.prompt_version_id is None:
        raise ConflictError(f"Job {job.id} is {_state(job)}: it stored no prompt version")
    await reject_version(session, str(job.task_id), str(job.prompt_version_id), reason)
    await session.refresh(job)
    return job
