"""HTTP routes of the optimization engine: ``POST /api/v1/jobs/{job_id}/retry-pr``.

Example (shell)::

    curl -X POST -H "X-API-Key: $KEY" http://localhost:8000/api/v1/jobs/$JOB/retry-pr
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from kaizen_sdk.models import Job, JobStatus
from kaizen_server.api.dependencies import Context, ReadSession
from kaizen_server.db.models import PromptVersion, Task
from kaizen_server.optimization.job_store import finish_job
from kaizen_server.optimization.publishing import PullRequestError, open_pull_request
from kaizen_server.optimization.result_handling import pull_request_spec
from kaizen_server.services.errors import BadRequestError, ConflictError, ServiceError
from kaizen_server.services.jobs import find_job
from kaizen_server.services.tasks import task_views
from kaizen_server.services.views import job_view

__all__ = ["PullRequestRetryError", "router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])


class PullRequestRetryError(ServiceError, status=502):
    """The pull request failed again (the job stays PR_FAILED with the new error)."""


@router.post("/{job_id}/retry-pr", response_model=Job)
async def retry_pull_request(job_id: str, session: ReadSession, context: Context) -> Job:
    """Open the pull request of a PR_FAILED job again; SUCCESS with ``pr_url`` when it works."""
    job = await find_job(session, job_id)
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
    job_ref = str(job.id)
    await session.rollback()  # end the read transaction before the slow push
    try:
        pr_url = await asyncio.to_thread(open_pull_request, spec)
    except PullRequestError as exc:
        await finish_job(
            context.database,
            job_ref,
            JobStatus.PR_FAILED,
            error_message=str(exc),
            allowed=[JobStatus.PR_FAILED.value],
        )
        raise PullRequestRetryError(f"The pull request failed again: {exc}") from exc
    await finish_job(
        context.database,
        job_ref,
        JobStatus.SUCCESS,
        pr_url=pr_url,
        allowed=[JobStatus.PR_FAILED.value],
    )
    return job_view(await find_job(session, job_ref))
