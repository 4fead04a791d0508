"""Which feedback counts toward a task's next optimization (its "window").

The window of a task opens when its most recent *consuming* job was queued: a job that did
not fail, or an auto-triggered one even if it failed (so a broken LM endpoint is not hit by a
new job on every feedback post). A manually started run that failed consumes nothing.
Feedback stored after that point counts; with no consuming job, all feedback counts.

The same definition drives the auto-trigger and the ``threshold_progress`` of task responses.

Example:
    >>> await feedback_in_window(session, task.id)  # doctest: +SKIP
    12
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Subquery, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk.models import JobStatus
from kaizen_server.db.models import Feedback, OptimizationJob

__all__ = ["AUTO_TRIGGERED_BY", "feedback_in_window", "window_starts"]

AUTO_TRIGGERED_BY = "threshold"
"""``triggered_by`` of jobs queued by the auto-trigger."""


def _consumes_feedback() -> ColumnElement[bool]:
    return or_(
        OptimizationJob.status != JobStatus.FAILURE.value,
        OptimizationJob.triggered_by == AUTO_TRIGGERED_BY,
    )


def window_starts(task_ids: Sequence[uuid.UUID]) -> Subquery:
    """Subquery ``(task_id, since)``: when each task's window opened (absent: never)."""
    return (
        select(
            OptimizationJob.task_id.label("task_id"),
            func.max(OptimizationJob.created_at).label("since"),
        )
        .where(OptimizationJob.task_id.in_(list(task_ids)), _consumes_feedback())
        .group_by(OptimizationJob.task_id)
        .subquery()
    )


async def feedback_in_window(session: AsyncSession, task_id: uuid.UUID) -> int:
    """How many feedback rows of the task count toward its next optimization."""
    starts = window_starts([task_id])
    statement = (
        select(func.count())
        .select_from(Feedback)
        .outerjoin(starts, starts.c.task_id == Feedback.task_id)
        .where(
            Feedback.task_id == task_id,
            or_(starts.c.since.is_(None), Feedback.created_at > starts.c.since),
        )
    )
    return int(await session.scalar(statement) or 0)
