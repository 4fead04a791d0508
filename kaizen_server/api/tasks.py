"""``/api/v1/tasks``: create, list, get (UUID or name), update, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from kaizen_sdk.models import Task
from kaizen_server.api.dependencies import (
    DEFAULT_PAGE_SIZE,
    Context,
    Cursor,
    Limit,
    ReadSession,
    WriteSession,
    set_next_cursor,
)
from kaizen_server.request_models import TaskCreate, TaskUpdate
from kaizen_server.services import tasks as service

__all__ = ["router"]

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Task)
async def create_task(body: TaskCreate, session: WriteSession) -> Task:
    """Create a task (409 when the name is taken)."""
    task = await service.create_task(session, body)
    return (await service.task_views(session, [task]))[0]


@router.get("", response_model=list[Task])
async def list_tasks(
    response: Response,
    session: ReadSession,
    name: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> list[Task]:
    """Tasks, newest first; ``X-Next-Cursor`` is set when more remain."""
    page = await service.list_tasks(session, name=name, limit=limit, cursor=cursor)
    set_next_cursor(response, page)
    return await service.task_views(session, page.items)


@router.get("/{task}", response_model=Task)
async def get_task(task: str, session: ReadSession) -> Task:
    """One task by UUID or name."""
    row = await service.find_task(session, task)
    return (await service.task_views(session, [row]))[0]


@router.patch("/{task}", response_model=Task)
async def update_task(task: str, body: TaskUpdate, session: WriteSession, context: Context) -> Task:
    """Change the fields sent."""
    row = await service.update_task(session, task, body)
    context.prompt_cache.invalidate()  # a renamed task's prompt is no longer under its old name
    return (await service.task_views(session, [row]))[0]


@router.delete("/{task}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(task: str, session: WriteSession, context: Context) -> Response:
    """Delete a task with its feedback, traces, prompt versions and jobs."""
    await service.delete_task(session, task)
    context.prompt_cache.invalidate()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
