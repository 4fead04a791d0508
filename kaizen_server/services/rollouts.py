"""Rollouts: a candidate version served to a share of a task's traffic beside the active one.

A rollout compares the end users' ratings of the outputs each version produced (feedback on
traces recorded with that version since the rollout started) with the always-valid test of
:mod:`kaizen_server.rollouts.decision`, and recommends promoting or rolling back; an operator
(or an app) ends it with :func:`promote_rollout` or :func:`stop_rollout`. Every change is a
``prompt_events`` row, so every app replica hears it within the SSE propagation time.

Example:
    >>> rollout = await start_rollout(session, broker, "summarize", body)  # doctest: +SKIP
    >>> (await rollout_view(session, rollout)).recommendation  # doctest: +SKIP
    'continue'
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from kaizen_sdk import models as wire
from kaizen_server.db.columns import utc_now
from kaizen_server.db.models import Feedback, PromptEvent, PromptVersion, Rollout, Task, Trace
from kaizen_server.events.broker import PromptEventBroker
from kaizen_server.request_models import RolloutEnd, RolloutStart
from kaizen_server.rollouts import (
    DEFAULT_SUCCESS_THRESHOLD,
    ArmCounts,
    RolloutEvidence,
    RolloutPolicy,
    decide,
)
from kaizen_server.services.errors import ConflictError, NotFoundError
from kaizen_server.services.lifecycle_log import rollout_ended, rollout_started
from kaizen_server.services.prompts import activate_in_transaction, find_version
from kaizen_server.services.tasks import find_task
from kaizen_server.services.transactions import retry_on_conflict

__all__ = [
    "ROLLOUT_STARTED",
    "ROLLOUT_STOPPED",
    "current_rollout",
    "list_rollouts",
    "promote_rollout",
    "prompt_rollout",
    "rollout_view",
    "start_rollout",
    "stop_rollout",
]

ROLLOUT_STARTED = "prompt.rollout_started"
ROLLOUT_STOPPED = "prompt.rollout_stopped"
RUNNING = wire.RolloutStatus.RUNNING.value


async def start_rollout(
    session: AsyncSession, broker: PromptEventBroker, task_ref: str, body: RolloutStart
) -> Rollout:
    """Start serving ``body.version_id`` to ``body.share`` of the task's traffic (committed).

    :class:`NotFoundError` for a version of another task; :class:`ConflictError` when the task
    has no active version, the version is the active one, or a rollout is already running.
    """

    async def attempt() -> Rollout:
        task = await find_task(session, task_ref, for_update=True)
        candidate = await find_version(session, task, body.version_id)
        baseline = await session.scalar(
            select(PromptVersion).where(
                PromptVersion.task_id == task.id,
                PromptVersion.status == wire.PromptStatus.ACTIVE.value,
            )
        )
        if baseline is None:
            raise ConflictError(
                f"Task {task.name!r} has no active version to roll out against: activate one first"
            )
        if baseline.id == candidate.id:
            raise ConflictError(
                f"Version {candidate.version_number} is already the active version of {task.name!r}"
            )
        running = await _running(session, task.id)
        if running is not None:
            raise ConflictError(
                f"Task {task.name!r} already has a running rollout ({running.id}): promote or "
                "stop it first"
            )
        await broker.prepare_event(session)
        rollout = Rollout(
            task_id=task.id,
            baseline_version_id=baseline.id,
            candidate_version_id=candidate.id,
            share=body.share,
            min_ratings_per_arm=body.min_ratings_per_arm,
            max_duration_hours=body.max_duration_hours,
            auto_decide=body.auto_decide,
            status=RUNNING,
            started_at=utc_now(),
        )
        session.add(rollout)
        await _announce(session, broker, ROLLOUT_STARTED, task, candidate)
        await session.commit()
        rollout_started(task.name, str(rollout.id), candidate.version_number, body.share)
        return rollout

    # Two starts at once: the partial unique index refuses the second, whose retry sees the
    # first and answers 409.
    rollout = await retry_on_conflict(session, attempt, what="rollout")
    broker.wake_local()
    return rollout


async def current_rollout(session: AsyncSession, task_ref: str) -> Rollout:
    """The task's running rollout, else its latest one; :class:`NotFoundError` if it never
    had one."""
    task = await find_task(session, task_ref)
    rollout = await session.scalar(
        select(Rollout)
        .where(Rollout.task_id == task.id)
        .order_by((Rollout.status == RUNNING).desc(), Rollout.started_at.desc())
        .limit(1)
    )
    if rollout is None:
        raise NotFoundError(f"Task {task.name!r} has no rollout")
    return rollout


async def list_rollouts(session: AsyncSession, task_ref: str, *, limit: int) -> list[Rollout]:
    """The task's rollouts, newest first."""
    task = await find_task(session, task_ref)
    rows = await session.scalars(
        select(Rollout)
        .where(Rollout.task_id == task.id)
        .order_by(Rollout.started_at.desc())
        .limit(limit)
    )
    return list(rows.all())


async def prompt_rollout(session: AsyncSession, task_id: uuid.UUID) -> wire.PromptRollout | None:
    """The running rollout's candidate as the active prompt carries it, or ``None``."""
    row = (
        await session.execute(
            select(Rollout.id, Rollout.share, PromptVersion)
            .join(PromptVersion, PromptVersion.id == Rollout.candidate_version_id)
            .where(Rollout.task_id == task_id, Rollout.status == RUNNING)
        )
    ).first()
    if row is None:
        return None
    rollout_id, share, candidate = row
    return wire.PromptRollout(
        id=str(rollout_id),
        share=share,
        version_id=str(candidate.id),
        version_number=candidate.version_number,
        prompt_text=candidate.prompt_text,
    )


async def promote_rollout(
    session: AsyncSession,
    broker: PromptEventBroker,
    task_ref: str,
    body: RolloutEnd | None,
    *,
    rollout_id: uuid.UUID | None = None,
) -> Rollout:
    """Make the running rollout's candidate the active version (committed); the rollout
    ends ``promoted``. :class:`ConflictError` when no rollout is running (or, given
    ``rollout_id``, when the running one is another)."""
    reason = (body.reason if body else None) or "promoted by an operator"

    async def attempt() -> Rollout:
        task = await find_task(session, task_ref, for_update=True)
        rollout = await _running_or_conflict(session, task, rollout_id)
        candidate = await session.get(PromptVersion, rollout.candidate_version_id)
        assert candidate is not None  # a version's deletion cascades to its rollouts
        await activate_in_transaction(
            session, broker, task.id, task.name, candidate, rollout_end_reason=reason
        )
        await session.commit()
        rollout_ended(task.name, str(rollout.id), wire.RolloutStatus.PROMOTED.value, reason)
        return rollout

    rollout = await retry_on_conflict(session, attempt, what="promotion")
    broker.wake_local()
    await session.refresh(rollout)
    return rollout


async def stop_rollout(
    session: AsyncSession,
    broker: PromptEventBroker,
    task_ref: str,
    body: RolloutEnd | None,
    *,
    rollout_id: uuid.UUID | None = None,
) -> Rollout:
    """Roll back: the candidate gets no more traffic, the active version stays (committed).
    :class:`ConflictError` when no rollout is running (or, given ``rollout_id``, when the
    running one is another)."""
    reason = (body.reason if body else None) or "stopped by an operator"

    async def attempt() -> Rollout:
        task = await find_task(session, task_ref, for_update=True)
        rollout = await _running_or_conflict(session, task, rollout_id)
        candidate = await session.get(PromptVersion, rollout.candidate_version_id)
        assert candidate is not None
        await broker.prepare_event(session)
        rollout.status = wire.RolloutStatus.STOPPED.value
        rollout.ended_at = utc_now()
        rollout.end_reason = reason
        await _announce(session, broker, ROLLOUT_STOPPED, task, candidate)
        await session.commit()
        rollout_ended(task.name, str(rollout.id), rollout.status, reason)
        return rollout

    rollout = await retry_on_conflict(session, attempt, what="rollout stop")
    broker.wake_local()
    return rollout


async def rollout_view(
    session: AsyncSession, rollout: Rollout, *, now: datetime | None = None
) -> wire.Rollout:
    """The wire ``Rollout``: both arms' figures since it started (until it ended) and the
    decision rule's recommendation on them.

    The guardrails are :class:`RolloutPolicy`'s defaults: once the candidate served 50
    requests, its error rate (traces with an ``error``) at most 5 %, or the baseline's plus 5
    points when that is higher, and its p95 latency within 1.5x the baseline's.
    """
    until = rollout.ended_at
    baseline = await _arm(session, rollout, rollout.baseline_version_id, until)
    candidate = await _arm(session, rollout, rollout.candidate_version_id, until)
    policy = RolloutPolicy(
        min_ratings_per_arm=rollout.min_ratings_per_arm,
        max_duration=timedelta(hours=rollout.max_duration_hours),
    )
    evidence = RolloutEvidence(
        ArmCounts(baseline.ratings, baseline.successes),
        ArmCounts(candidate.ratings, candidate.successes),
        rollout.started_at,
        candidate_requests=candidate.requests,
        candidate_errors=candidate.errors,
        baseline_requests=baseline.requests,
        baseline_errors=baseline.errors,
        candidate_latency_p95_ms=candidate.latency_p95_ms,
        baseline_latency_p95_ms=baseline.latency_p95_ms,
    )
    at = until or now or utc_now()
    decision = decide(evidence, policy, now=max(at, rollout.started_at))
    return wire.Rollout(
        id=str(rollout.id),
        task_id=str(rollout.task_id),
        share=rollout.share,
        status=wire.RolloutStatus(rollout.status),
        baseline=baseline,
        candidate=candidate,
        min_ratings_per_arm=rollout.min_ratings_per_arm,
        max_duration_hours=rollout.max_duration_hours,
        auto_decide=rollout.auto_decide,
        started_at=rollout.started_at,
        ended_at=rollout.ended_at,
        end_reason=rollout.end_reason,
        recommendation=decision.action.value,
        rule=decision.rule.value,
        reason=decision.reason,
        difference=decision.difference,
        interval=decision.interval if decision.difference is not None else None,
        p_value=decision.p_value,
        alpha=decision.alpha,
    )


async def _arm(
    session: AsyncSession, rollout: Rollout, version_id: uuid.UUID, until: datetime | None
) -> wire.RolloutArm:
    window: list[ColumnElement[bool]] = [
        Trace.task_id == rollout.task_id,
        Trace.prompt_version_id == version_id,
        Trace.created_at >= rollout.started_at,
    ]
    if until is not None:
        window.append(Trace.created_at <= until)
    success = case((Feedback.score >= DEFAULT_SUCCESS_THRESHOLD, 1), else_=0)
    ratings, successes = (
        await session.execute(
            select(func.count(Feedback.id), func.coalesce(func.sum(success), 0))
            .join(Trace, Feedback.trace_id == Trace.id)
            .where(*window, Feedback.score.is_not(None))
        )
    ).one()
    requests, errors, timed = (
        await session.execute(
            select(
                func.count(Trace.id), func.count(Trace.error), func.count(Trace.latency_ms)
            ).where(*window)
        )
    ).one()
    p95 = None
    if timed:  # nearest-rank p95: one indexed row, not every latency
        p95 = await session.scalar(
            select(Trace.latency_ms)
            .where(*window, Trace.latency_ms.is_not(None))
            .order_by(Trace.latency_ms)
            .offset(math.ceil(0.95 * timed) - 1)
            .limit(1)
        )
    number = await session.scalar(
        select(PromptVersion.version_number).where(PromptVersion.id == version_id)
    )
    return wire.RolloutArm(
        version_id=str(version_id),
        version_number=number or 0,
        ratings=int(ratings),
        successes=int(successes),
        requests=int(requests),
        errors=int(errors),
        latency_p95_ms=p95,
    )


async def _running(session: AsyncSession, task_id: uuid.UUID) -> Rollout | None:
    return await session.scalar(
        select(Rollout).where(Rollout.task_id == task_id, Rollout.status == RUNNING)
    )


async def _running_or_conflict(
    session: AsyncSession, task: Task, rollout_id: uuid.UUID | None
) -> Rollout:
    rollout = await _running(session, task.id)
    if rollout is None:
        raise ConflictError(f"Task {task.name!r} has no running rollout")
    if rollout_id is not None and rollout.id != rollout_id:
        raise ConflictError(f"Rollout {rollout_id} of {task.name!r} is no longer running")
    return rollout


async def _announce(
    session: AsyncSession,
    broker: PromptEventBroker,
    event_type: str,
    task: Task,
    version: PromptVersion,
) -> None:
    event = PromptEvent(
        event_type=event_type,
        task_id=task.id,
        task_name=task.name,
        version_id=version.id,
        version_number=version.version_number,
    )
    session.add(event)
    await session.flush()
    await broker.announce(session, event.id)
