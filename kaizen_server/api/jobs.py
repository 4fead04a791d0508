"""``/api/v1/jobs``: optimization jobs (started by ``POST /api/v1/optimize/{task}``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from kaizen_sdk.models import Job
from kaizen_server.api.dependencies import Context, ReadSession, WriteSession
from kaizen_server.api.resource_routes import add_list_route
from kaizen_server.http.problems import PROBLEM_MEDIA_TYPE, ProblemDetails
from kaizen_server.request_models import JobRejection
from kaizen_server.services.jobs import (
    create_pull_request,
    find_job,
    list_jobs,
    reject_job,
    retry_pull_request,
)
from kaizen_server.services.views import job_view

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])

_PR_FAILED_RESPONSE: dict[int | str, dict[str, Any]] = {
    502: {
        "description": "Opening the pull request failed (the job is PR_FAILED with the error)",
        "model": ProblemDetails,
        "content": {PROBLEM_MEDIA_TYPE: {}},
    }
}


add_list_route(
    router,
    Job,
    list_jobs,
    job_view,
    name="get_jobs",
    doc="Jobs newest first, optionally of one task (UUID or name).",
)


@router.get("/{job_id}", response_model=Job)
async def get_job(job_id: str, session: ReadSession) -> Job:
    """One job: status, progress_step, result, pr_url, pr_preview, pr_review, error_message."""
    return job_view(await find_job(session, job_id))


@router.post("/{job_id}/retry-pr", response_model=Job, responses=_PR_FAILED_RESPONSE)
async def retry_pr(job_id: str, session: ReadSession, context: Context) -> Job:
    """Open the pull request of a PR_FAILED job again; SUCCESS with ``pr_url`` when it works.

    409 when the job is not PR_FAILED or its version was rejected; 502 when it fails again.

    Example (shell)::

        curl -X POST -H "X-API-Key: $KEY" http://localhost:8000/api/v1/jobs/$JOB/retry-pr
    """
    return job_view(await retry_pull_request(session, context.database, job_id))


@router.post("/{job_id}/create-pr", response_model=Job, responses=_PR_FAILED_RESPONSE)
async def create_pr(job_id: str, session: ReadSession, context: Context) -> Job:
    """Approve a job's proposed pull request and open it: a ``pr_preview`` job awaiting
    approval (or a PR_FAILED job). The job gets ``pr_url`` and ``pr_review: approved``.

    A job that already has a pull request is returned unchanged (200), so a repeated call
    never opens a second one. 409 when the job proposes nothing (running, failed,
    ``optimize_only``, not improved, rejected) or the task's repository settings changed since
    the preview; 502 when opening fails (the job is PR_FAILED, the preview stays).

    Example (shell)::

        curl -X POST -H "X-API-Key: $KEY" http://localhost:8000/api/v1/jobs/$JOB/create-pr
    """
    return job_view(await create_pull_request(session, context.database, job_id))


@router.post("/{job_id}/reject", response_model=Job)
async def reject(
    job_id: str,
    session: WriteSession,
    body: Annotated[JobRejection | None, Body()] = None,
) -> Job:
    """Reject the prompt version a job stored: it becomes ``rejected`` with the ``reason``
    (optional body ``{"reason": "..."}``) and the job's proposed pull request is closed
    (``pr_review: rejected``). Rejecting again changes nothing.

    409 when the job stored no version (running, failed, unchanged), its version is active or
    archived, or its pull request is being opened. A pull request already opened stays open in
    the repository.

    Example (shell)::

        curl -X POST -H "X-API-Key: $KEY" -H "Content-Type: application/json" \\
            -d '{"reason": "Too long"}' http://localhost:8000/api/v1/jobs/$JOB/reject
    """
    reason = body.reason if body is not None else None
    return job_view(await reject_job(session, job_id, reason))
