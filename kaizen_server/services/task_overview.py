"""What the console shows of tasks: one query set per page, no HTTP.

Example:
    >>> page = await task_overviews(session, limit=50, cursor=None)  # doctest: +SKIP
    >>> page.items[0].progress  # doctest: +SKIP
    '42/50'
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk import models as wire
from kaizen_sdk.models import PromptStatus
from kaizen_server.db.models import OptimizationJob, PromptVersion, Task
from kaizen_server.services.pagination import Page
from kaizen_server.services.tasks import find_task, list_tasks, task_views

__all__ = ["ScorePoint", "TaskDetail", "TaskOverview", "task_detail", "task_overviews"]

RECENT_JOBS = 20
"""Jobs listed on a task's page (the jobs page pages through all of them)."""


@dataclass(frozen=True)
class ScorePoint:
    """A version's measured score at the time the version was made."""

    version_number: int
    score: float
    baseline_score: float | None
    at: datetime


@dataclass(frozen=True)
class TaskOverview:
    """A task as the task list shows it."""

    task: wire.Task
    active_version: PromptVersion | None
    trend: Sequence[ScorePoint]
    last_job: OptimizationJob | None

    @property
    def progress(self) -> str:
        """Feedback since the last optimization against the threshold, e.g. ``42/50``."""
        return self.task.threshold_progress or f"0/{self.task.feedback_threshold}"

    @property
    def progress_fraction(self) -> float:
        """The same, as a fraction in [0, 1] (for a progress bar)."""
        done, _, threshold = self.progress.partition("/")
        return min(int(done) / max(int(threshold), 1), 1.0)


@dataclass(frozen=True)
class TaskDetail:
    """A task with all its versions (newest first) and its recent jobs."""

    overview: TaskOverview
    versions: Sequence[PromptVersion]
    jobs: Sequence[OptimizationJob]

    @property
    def drafts(self) -> list[PromptVersion]:
        """Versions waiting for a decision, newest first."""
        return [v for v in self.versions if v.status == PromptStatus.DRAFT.value]


async def _active_versions(
    session: AsyncSession, task_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PromptVersion]:
    rows = await session.scalars(
        select(PromptVersion).where(
            PromptVersion.task_id.in_(task_ids), PromptVersion.status == PromptStatus.ACTIVE.value
        )
    )
    return {row.task_id: row for row in rows}


async def _trends(
    session: AsyncSession, task_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ScorePoint]]:
    trends: dict[uuid.UUID, list[ScorePoint]] = defaultdict(list)
    rows = await session.execute(
        select(
            PromptVersion.task_id,
            PromptVersion.version_number,
            PromptVersion.eval_score,
            PromptVersion.baseline_score,
            PromptVersion.created_at,
        )
        .where(PromptVersion.task_id.in_(task_ids), PromptVersion.eval_score.is_not(None))
        .order_by(PromptVersion.task_id, PromptVersion.version_number)
    )
    for task_id, number, score, baseline, at in rows:
        if score is not None:  # the query's filter; the type does not know it
            trends[task_id].append(ScorePoint(number, score, baseline, at))
    return trends


async def _last_jobs(
    session: AsyncSession, task_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, OptimizationJob]:
    newest = (
        select(
            OptimizationJob.task_id.label("task_id"),
            func.max(OptimizationJob.created_at).label("created_at"),
        )
        .where(OptimizationJob.task_id.in_(task_ids))
        .group_by(OptimizationJob.task_id)
        .subquery()
    )
    rows = await session.scalars(
        select(OptimizationJob).join(
            newest,
            (newest.c.task_id == OptimizationJob.task_id)
            & (newest.c.created_at == OptimizationJob.created_at),
        )
    )
    return {row.task_id: row for row in rows}


async def _overviews(session: AsyncSession, tasks: Sequence[Task]) -> list[TaskOverview]:
    ids = [task.id for task in tasks]
    views = await task_views(session, tasks)
    active = await _active_versions(session, ids)
    trends = await _trends(session, ids)
    jobs = await _last_jobs(session, ids)
    return [
        TaskOverview(view, active.get(task.id), trends.get(task.id, []), jobs.get(task.id))
        for task, view in zip(tasks, views, strict=True)
    ]


async def task_overviews(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> Page[TaskOverview]:
    """A page of tasks, newest first, with progress, active version, trend and last job."""
    page = await list_tasks(session, name=None, limit=limit, cursor=cursor)
    return Page(await _overviews(session, page.items), page.next_cursor)


async def task_detail(session: AsyncSession, task_ref: str) -> TaskDetail:
    """One task (by UUID or name) with its versions and recent jobs."""
    task = await find_task(session, task_ref)
    (overview,) = await _overviews(session, [task])
    versions = await session.scalars(
        select(PromptVersion)
        .where(PromptVersion.task_id == task.id)
        .order_by(PromptVersion.version_number.desc())
    )
    jobs = await session.scalars(
        select(OptimizationJob)
        .where(OptimizationJob.task_id == task.id)
        .order_by(OptimizationJob.created_at.desc(), OptimizationJob.id.desc())
        .limit(RECENT_JOBS)
    )
    return TaskDetail(overview, list(versions.all()), list(jobs.all()))
