"""``/api/v1/jobs``: optimization jobs."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kaizen_sdk.models import Job
from kaizen_server.api.dependencies import (
    DEFAULT_PAGE_SIZE,
    Cursor,
    Limit,
    ReadSession,
    TaskFilter,
    set_next_cursor,
)
from kaizen_server.services.jobs import find_job, list_jobs
from kaizen_server.services.views import job_view

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("", response_model=list[Job])
async def get_jobs(
    response: Response,
    session: ReadSession,
    task_id: TaskFilter = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> list[Job]:
    """Jobs newest first, optionally of one task (UUID or name)."""
    page = await list_jobs(session, task_ref=task_id, limit=limit, cursor=cursor)
    set_next_cursor(response, page)
    return [job_view(job) for job in page.items]


@router.get("/{job_id}", response_model=Job)
async def get_job(job_id: str, session: ReadSession) -> Job:
    """One job: status, progress_step, pr_url, error_message."""
    return job_view(await find_job(session, job_id))
