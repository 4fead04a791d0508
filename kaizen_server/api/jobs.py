"""``/api/v1/jobs``: optimization jobs (started by ``POST /api/v1/optimize/{task}``)."""

from __future__ import annotations

from fastapi import APIRouter

from kaizen_sdk.models import Job
from kaizen_server.api.dependencies import Context, ReadSession
from kaizen_server.api.resource_routes import add_list_route
from kaizen_server.services.jobs import find_job, list_jobs, retry_pull_request
from kaizen_server.services.views import job_view

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])


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
    """One job: status, progress_step, pr_url, error_message."""
    return job_view(await find_job(session, job_id))


@router.post("/{job_id}/retry-pr", response_model=Job)
async def retry_pr(job_id: str, session: ReadSession, context: Context) -> Job:
    """Open the pull request of a PR_FAILED job again; SUCCESS with ``pr_url`` when it works.

    Example (shell)::

        curl -X POST -H "X-API-Key: $KEY" http://localhost:8000/api/v1/jobs/$JOB/retry-pr
    """
    return job_view(await retry_pull_request(session, context.database, job_id))
