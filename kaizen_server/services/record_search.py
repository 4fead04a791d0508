"""Feedback and traces filtered the way an operator looks for them (the console's browsers).

Pages go newest first with the API's cursors (:mod:`kaizen_server.services.pagination`).

Example:
    >>> query = RecordQuery(task_ref="summarize_ticket", max_score=0.3)
    >>> page = await search_feedback(session, query, limit=50, cursor=None)  # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.db.models import Feedback, Task, Trace
from kaizen_server.services.pagination import Page, fetch_page
from kaizen_server.services.tasks import find_task

__all__ = ["RecordQuery", "search_feedback", "search_traces", "task_names"]


@dataclass(frozen=True)
class RecordQuery:
    """What to look for; every field left ``None`` matches everything."""

    task_ref: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    source: str | None = None
    """Feedback only: ``sdk``, ``user``, ... as the client sent it."""
    version_id: uuid.UUID | None = None
    """The prompt version that produced the output (a feedback's through its trace)."""
    since: datetime | None = None
    until: datetime | None = None


def _common(
    entity: type[Feedback] | type[Trace], query: RecordQuery, task_id: uuid.UUID | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if task_id is not None:
        conditions.append(entity.task_id == task_id)
    if query.min_score is not None:
        conditions.append(entity.score >= query.min_score)
    if query.max_score is not None:
        conditions.append(entity.score <= query.max_score)
    if query.since is not None:
        conditions.append(entity.created_at >= query.since)
    if query.until is not None:
        conditions.append(entity.created_at <= query.until)
    return conditions


async def _task_id(session: AsyncSession, query: RecordQuery) -> uuid.UUID | None:
    return None if query.task_ref is None else (await find_task(session, query.task_ref)).id


async def search_feedback(
    session: AsyncSession, query: RecordQuery, *, limit: int, cursor: str | None
) -> Page[Feedback]:
    """Feedback matching ``query``, newest first."""
    task_id = await _task_id(session, query)
    statement: Select[Any] = select(Feedback).where(*_common(Feedback, query, task_id))
    if query.source is not None:
        statement = statement.where(Feedback.source == query.source)
    if query.version_id is not None:
        statement = statement.join(Trace, Trace.id == Feedback.trace_id).where(
            Trace.prompt_version_id == query.version_id
        )
    return await fetch_page(session, statement, Feedback, limit=limit, cursor=cursor)


async def search_traces(
    session: AsyncSession, query: RecordQuery, *, limit: int, cursor: str | None
) -> Page[Trace]:
    """Traces matching ``query``, newest first."""
    task_id = await _task_id(session, query)
    statement: Select[Any] = select(Trace).where(*_common(Trace, query, task_id))
    if query.version_id is not None:
        statement = statement.where(Trace.prompt_version_id == query.version_id)
    return await fetch_page(session, statement, Trace, limit=limit, cursor=cursor)


async def task_names(session: AsyncSession, task_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of the tasks ``task_ids`` (to label rows of several tasks)."""
    if not task_ids:
        return {}
    rows = await session.execute(select(Task.id, Task.name).where(Task.id.in_(set(task_ids))))
    return {row[0]: row[1] for row in rows}
