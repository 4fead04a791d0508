"""Which feedback counts toward a task's next optimization (its "window").

The window of a task opens when its most recent *consuming* job was queued: a job that did
not fail, or an auto-triggered one even if it failed (so a broken LM endpoint is not hit by a
new job on every feedback post). A manually started run that failed consumes nothing.
Feedback stored after that point counts; with no consuming job, all feedback counts. Seeds
(``source`` = :data:`SEED_SOURCE`, uploaded by ``POST /api/v1/tasks/{task}/seed``) never
count: they are training data, not new evidence that the prompt needs work.

The same definition drives the auto-trigger and the ``threshold_progress`` of task responses.

Example:
    >>> await session.run_sync(feedback_in_window, task.id)  # doctest: +SKIP
    12
    >>> await threshold_reached(session, task.id)  # doctest: +SKIP
    False
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import (
    ColumnElement,
    Exists,
    Integer,
    ScalarSelect,
    Select,
    Subquery,
    Uuid,
    bindparam,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, Session

from kaizen_sdk.models import JobStatus
from kaizen_server.db.models import ACTIVE_JOB_STATUSES, Feedback, OptimizationJob, Task

__all__ = [
    "AUTO_TRIGGERED_BY",
    "SEED_SOURCE",
    "counts_toward_threshold",
    "feedback_in_window",
    "has_active_job",
    "threshold_reached",
    "window_reaches",
    "window_starts",
]

AUTO_TRIGGERED_BY = "threshold"
"""``triggered_by`` of jobs queued by the auto-trigger."""

SEED_SOURCE = "seed"
"""``source`` of seed feedback: stored and trained on, never counted toward the threshold."""


def counts_toward_threshold() -> ColumnElement[bool]:
    """True for the feedback rows that may count toward a threshold (every one but seeds)."""
    return Feedback.source != SEED_SOURCE


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


def _window_opened(task_id: ColumnElement[uuid.UUID]) -> ScalarSelect[datetime]:
    """When the window of ``task_id`` opened (NULL: never), as a scalar subquery."""
    return (
        select(func.max(OptimizationJob.created_at))
        .where(OptimizationJob.task_id == task_id, _consumes_feedback())
        .scalar_subquery()
    )


@cache
def _window_count(bounded: bool) -> Select[int]:
    """``count(*)`` of the feedback rows in the window of ``:task_id`` (``bounded``: of at
    most ``:at_most`` of them).

    Built once: its parameters are bound per call, so SQLAlchemy reuses the compiled form.
    """
    task_id = bindparam("task_id", type_=Uuid())
    opened = _window_opened(task_id)
    in_window = select(Feedback.id).where(
        Feedback.task_id == task_id,
        counts_toward_threshold(),
        or_(opened.is_(None), Feedback.created_at > opened),
    )
    if bounded:
        in_window = in_window.limit(bindparam("at_most", type_=Integer()))
    return select(func.count()).select_from(in_window.subquery())


def feedback_in_window(session: Session, task_id: uuid.UUID, *, at_most: int | None = None) -> int:
    """How many feedback rows of the task count toward its next optimization (a sync
    session: ``AsyncSession.run_sync`` or a write unit of ``Database.write``).

    Counting stops at ``at_most`` when given: "has the threshold been reached?" reads at most
    threshold rows however much feedback the task has gathered.
    """
    params: dict[str, object] = {"task_id": task_id}
    if at_most is not None:
        params["at_most"] = at_most
    count = session.scalar(_window_count(at_most is not None), params)
    return int(count or 0)


def has_active_job(task_id: ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID]) -> Exists:
    """Whether task ``task_id`` has a PENDING or RUNNING job (then no second one is queued)."""
    return exists().where(
        OptimizationJob.task_id == task_id, OptimizationJob.status.in_(ACTIVE_JOB_STATUSES)
    )


def window_reaches(session: Session, task_id: uuid.UUID, threshold: int) -> bool:
    """True when the window of the task holds at least ``threshold`` feedback rows (the
    count stops there)."""
    return feedback_in_window(session, task_id, at_most=threshold) >= threshold


@cache
def _threshold_and_active_job() -> Select[int, bool]:
    """The threshold of task ``:task_id`` and whether it has a PENDING/RUNNING job."""
    task_id = bindparam("task_id", type_=Uuid())
    return select(Task.feedback_threshold, has_active_job(task_id)).where(Task.id == task_id)


async def threshold_reached(session: AsyncSession, task_id: uuid.UUID) -> bool:
    """True when the task has no active job and its window holds at least its threshold
    of feedback: one query while a job is active (the common case under load), else a
    count that stops at the threshold."""
    row = (await session.execute(_threshold_and_active_job(), {"task_id": task_id})).first()
    if row is None or row[1]:
        return False  # no such task, or a job is queued or running: no second one now
    return await session.run_sync(window_reaches, task_id, row[0])
