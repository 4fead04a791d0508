"""Prompt versions: the active prompt, version history, new versions, activation, rejection.

Activation archives the previously active version, stores a ``prompt_events`` row and
announces it through the broker, all in one transaction.

Example:
    >>> version = await create_version(session, broker, task, "Summarize:", activate=True)
    ... # doctest: +SKIP
    >>> version.status  # doctest: +SKIP
    'active'
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk.models import JobStatus, PromptStatus, PullRequestReview
from kaizen_server.db.columns import utc_now
from kaizen_server.db.models import (
    ACTIVE_JOB_STATUSES,
    OptimizationJob,
    PromptEvent,
    PromptVersion,
    Rollout,
    Task,
)
from kaizen_server.events.broker import PromptEventBroker
from kaizen_server.services import lifecycle_log
from kaizen_server.services.errors import ConflictError, NotFoundError
from kaizen_server.services.tasks import find_task, parse_uuid, task_matches
from kaizen_server.services.transactions import retry_on_conflict

__all__ = [
    "PROMPT_ACTIVATED",
    "activate_in_transaction",
    "activate_version",
    "active_prompt",
    "create_version",
    "find_version",
    "list_versions",
    "prompt_etag",
    "reject_version",
]

PROMPT_ACTIVATED = "prompt.activated"
DEFAULT_REJECTION_REASON = "Rejected by an operator."


def prompt_etag(version: PromptVersion, rollout: str = "") -> str:
    """Strong ETag of an active prompt: changes with the version, its text and status, and
    ``rollout`` (what identifies the running rollout, if any: its id, candidate and share).

    Example:
        >>> v = PromptVersion(id=uuid.UUID(int=1), prompt_text="Hi", status="active")
        >>> prompt_etag(v) == prompt_etag(v), prompt_etag(v).startswith('"')
        (True, True)
    """
    digest = hashlib.sha256(
        f"{version.id}\x1f{version.status}\x1f{version.prompt_text}\x1f{rollout}".encode()
    )
    return f'"{digest.hexdigest()[:32]}"'


async def active_prompt(session: AsyncSession, task_ref: str) -> PromptVersion:
    """The active version of the task ``task_ref`` (UUID or name): one indexed query.

    Raises :class:`NotFoundError` for an unknown task or a task without an active prompt.
    """
    if 0 < len(task_ref) <= 200 and "\x00" not in task_ref:
        version = await session.scalar(
            select(PromptVersion)
            .join(Task, Task.id == PromptVersion.task_id)
            .where(task_matches(task_ref), PromptVersion.status == PromptStatus.ACTIVE.value)
            .limit(1)
        )
        if version is not None:
            return version
    task = await find_task(session, task_ref)
    raise NotFoundError(f"Task {task.name!r} has no active prompt")


async def list_versions(session: AsyncSession, task_ref: str) -> list[PromptVersion]:
    """Every version of the task, newest first."""
    task = await find_task(session, task_ref)
    rows = await session.scalars(
        select(PromptVersion)
        .where(PromptVersion.task_id == task.id)
        .order_by(PromptVersion.version_number.desc())
    )
    return list(rows.all())


async def activate_in_transaction(
    session: AsyncSession,
    broker: PromptEventBroker,
    task_id: uuid.UUID,
    task_name: str,
    version: PromptVersion,
    *,
    rollout_end_reason: str | None = None,
) -> int | None:
    """Archive the active version, activate ``version``; returns the archived one's number.

    A running rollout of the task ends with it: ``promoted`` when ``version`` is its candidate
    (``rollout_end_reason``, default: the candidate was activated), else ``stopped``.
    """
    await broker.prepare_event(session)
    is_candidate = Rollout.candidate_version_id == version.id
    await session.execute(
        update(Rollout)
        .where(Rollout.task_id == task_id, Rollout.status == "running")
        .values(
            status=case((is_candidate, "promoted"), else_="stopped"),
            ended_at=utc_now(),
            end_reason=case(
                (is_candidate, rollout_end_reason or "the candidate was activated"),
                else_=f"version {version.version_number} was activated instead",
            ),
        )
        .execution_options(synchronize_session=False)
    )
    archived = await session.scalars(
        update(PromptVersion)
        .where(
            PromptVersion.task_id == task_id,
            PromptVersion.status == PromptStatus.ACTIVE.value,
            PromptVersion.id != version.id,
        )
        .values(status=PromptStatus.ARCHIVED.value)
        .returning(PromptVersion.version_number)
        .execution_options(synchronize_session=False)
    )
    previous = max(archived.all(), default=None)
    version.status = PromptStatus.ACTIVE.value
    await session.flush()
    event = PromptEvent(
        event_type=PROMPT_ACTIVATED,
        task_id=task_id,
        task_name=task_name,
        version_id=version.id,
        version_number=version.version_number,
    )
    session.add(event)
    await session.flush()
    await broker.announce(session, event.id)
    return previous


async def create_version(
    session: AsyncSession,
    broker: PromptEventBroker,
    task: Task,
    prompt_text: str,
    *,
    activate: bool = False,
    eval_score: float | None = None,
    baseline_score: float | None = None,
    optimizer: str | None = "manual",
    dspy_version: str | None = None,
    dspy_state: dict[str, Any] | None = None,
    job_id: uuid.UUID | None = None,
    status: str = PromptStatus.DRAFT.value,
    status_reason: str | None = None,
) -> PromptVersion:
    """Store the next version of ``task`` (committed); with ``activate`` it becomes active."""
    task_id, task_name = task.id, task.name  # a retry's rollback expires ``task``
    previous: int | None = None

    async def attempt() -> PromptVersion:
        nonlocal previous
        # Writers of one task's versions queue on the task row (SQLite: BEGIN IMMEDIATE).
        await session.execute(select(Task.id).where(Task.id == task_id).with_for_update())
        latest = await session.scalar(
            select(func.max(PromptVersion.version_number)).where(PromptVersion.task_id == task_id)
        )
        version = PromptVersion(
            task_id=task_id,
            version_number=(latest or 0) + 1,
            prompt_text=prompt_text,
            eval_score=eval_score,
            baseline_score=baseline_score,
            status=PromptStatus.DRAFT.value if activate else status,
            status_reason=status_reason,
            optimizer=optimizer,
            dspy_version=dspy_version,
            dspy_state=dspy_state,
            job_id=job_id,
        )
        session.add(version)
        await session.flush()
        if activate:
            previous = await activate_in_transaction(session, broker, task_id, task_name, version)
        await session.commit()
        return version

    version = await retry_on_conflict(session, attempt, what="prompt version")
    if activate:
        lifecycle_log.prompt_activated(task_name, version.version_number, previous)
        broker.wake_local()
    return version


async def activate_version(
    session: AsyncSession, broker: PromptEventBroker, task_ref: str, version_ref: str
) -> PromptVersion:
    """Make ``version_ref`` the active version of the task (the old active one is archived)."""

    activated: tuple[str, int | None] | None = None  # (task name, previous) once committed

    async def attempt() -> PromptVersion | None:
        nonlocal activated
        task = await find_task(session, task_ref, for_update=True)
        version = await find_version(session, task, version_ref)
        if version.status == PromptStatus.ACTIVE.value:
            return version
        task_name = task.name
        previous = await activate_in_transaction(session, broker, task.id, task_name, version)
        await session.commit()
        activated = (task_name, previous)
        return version

    version = await retry_on_conflict(session, attempt, what="activation")
    broker.wake_local()
    assert version is not None
    if activated is not None:
        lifecycle_log.prompt_activated(activated[0], version.version_number, activated[1])
    return version


async def find_version(session: AsyncSession, task: Task, version_ref: str) -> PromptVersion:
    """The version ``version_ref`` (a UUID) of ``task``; :class:`NotFoundError` otherwise."""
    version_id = parse_uuid(version_ref)
    version = None if version_id is None else await session.get(PromptVersion, version_id)
    if version is None or version.task_id != task.id:
        raise NotFoundError(
            f"Prompt version {version_ref[:100]!r} not found for task {task.name!r}"
        )
    return version


async def reject_version(
    session: AsyncSession, task_ref: str, version_ref: str, reason: str | None = None
) -> PromptVersion:
    """Mark the draft ``version_ref`` of the task ``rejected`` with ``reason`` (committed), and
    close every pull request of it that is proposed or failed but not opened: those jobs get
    ``pr_review: rejected``, so no ``create-pr`` or ``retry-pr`` opens one any more.

    Rejecting a rejected version again changes nothing. :class:`ConflictError` when the
    version is ``active`` or ``archived``, or a job is still running on it or opening its pull
    request; :class:`NotFoundError` for an unknown task or version.

    Example:
        >>> version = await reject_version(session, "summarize_ticket", version_id,
        ...                                "Too long for the mobile app.")  # doctest: +SKIP
        >>> version.status  # doctest: +SKIP
        'rejected'
    """
    task = await find_task(session, task_ref, for_update=True)
    version = await find_version(session, task, version_ref)
    if version.status == PromptStatus.REJECTED.value:
        return version
    if version.status != PromptStatus.DRAFT.value:
        raise ConflictError(
            f"Prompt version v{version.version_number} of task {task.name!r} is "
            f"{version.status}; only a draft can be rejected"
        )
    # Lock the version's jobs: a pull request being opened now holds one of them.
    jobs = list(
        await session.scalars(
            select(OptimizationJob)
            .where(
                or_(
                    OptimizationJob.prompt_version_id == version.id,
                    OptimizationJob.id == version.job_id,  # a RUNNING job links it at the end
                )
            )
            .with_for_update()
        )
    )
    for job in jobs:
        if job.status in ACTIVE_JOB_STATUSES:
            raise ConflictError(
                f"Job {job.id} is {job.status}; reject its version once it has finished"
            )
        if job.pr_review == PullRequestReview.APPROVED.value and job.pr_url is None:
            raise ConflictError(
                f"Job {job.id} is opening the pull request of v{version.version_number} "
                "(pr_review approved); reject it once that has finished"
            )
    version.status = PromptStatus.REJECTED.value
    version.status_reason = (reason or "").strip() or DEFAULT_REJECTION_REASON
    await session.execute(
        update(OptimizationJob)
        .where(
            OptimizationJob.prompt_version_id == version.id,
            OptimizationJob.pr_url.is_(None),
            or_(
                OptimizationJob.pr_review == PullRequestReview.AWAITING_APPROVAL.value,
                and_(
                    OptimizationJob.status == JobStatus.PR_FAILED.value,
                    OptimizationJob.pr_review.is_(None),
                ),
            ),
        )
        .values(pr_review=PullRequestReview.REJECTED.value)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return version
