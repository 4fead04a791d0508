"""Optimization jobs: look up one, list them newest first.

Example:
    >>> job = await find_job(session, "2f1c...")  # doctest: +SKIP
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.db.models import OptimizationJob
from kaizen_server.services.pagination import Page
from kaizen_server.services.tasks import find_row, list_task_rows

__all__ = ["find_job", "list_jobs"]


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
