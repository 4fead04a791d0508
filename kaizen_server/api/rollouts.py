"""``/api/v1/prompts/{task}/rollout``: serve a candidate version to a share of traffic, watch
both versions' ratings, then promote or stop (roll back)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from kaizen_sdk.models import Rollout
from kaizen_server.api.dependencies import Context, ReadSession, WriteSession
from kaizen_server.request_models import RolloutEnd, RolloutStart
from kaizen_server.services import rollouts as service

__all__ = ["router"]

router = APIRouter(prefix="/prompts", tags=["rollouts"])

MAX_LISTED = 100


@router.post("/{task}/rollout", status_code=status.HTTP_201_CREATED, response_model=Rollout)
async def start_rollout(
    task: str, body: RolloutStart, session: WriteSession, context: Context
) -> Rollout:
    """Serve ``version_id`` to ``share`` of the task's requests beside the active version.
    \f
    409 when the task has no active version, the version is the active one, or a rollout is
    already running (one per task).
    """
    rollout = await service.start_rollout(session, context.broker, task, body)
    return await service.rollout_view(session, rollout)


@router.get("/{task}/rollout", response_model=Rollout)
async def get_rollout(task: str, session: ReadSession) -> Rollout:
    """The running rollout (else the latest) with both versions' ratings since it started and
    the decision rule's recommendation: ``promote``, ``roll_back`` or ``continue``."""
    return await service.rollout_view(session, await service.current_rollout(session, task))


@router.get("/{task}/rollouts", response_model=list[Rollout])
async def list_rollouts(
    task: str,
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 20,
) -> list[Rollout]:
    """The task's rollouts, newest first, each with its figures."""
    rows = await service.list_rollouts(session, task, limit=limit)
    return [await service.rollout_view(session, row) for row in rows]


@router.post("/{task}/rollout/promote", response_model=Rollout)
async def promote_rollout(
    task: str,
    session: WriteSession,
    context: Context,
    body: Annotated[RolloutEnd | None, Body()] = None,
) -> Rollout:
    """Make the candidate the active version; the rollout ends ``promoted``."""
    rollout = await service.promote_rollout(session, context.broker, task, body)
    return await service.rollout_view(session, rollout)


@router.post("/{task}/rollout/stop", response_model=Rollout)
async def stop_rollout(
    task: str,
    session: WriteSession,
    context: Context,
    body: Annotated[RolloutEnd | None, Body()] = None,
) -> Rollout:
    """Roll back: the candidate gets no more traffic, the active version stays."""
    rollout = await service.stop_rollout(session, context.broker, task, body)
    return await service.rollout_view(session, rollout)
