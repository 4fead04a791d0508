"""The console's feedback and trace browsers: filters, cursor pages, a trace with its feedback.

Every comment, output and input is rendered escaped (the templates autoescape).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from kaizen_server.api.dependencies import Cursor, ReadSession
from kaizen_server.console.auth import ConsoleUser
from kaizen_server.console.query_values import optional_day, optional_score, optional_uuid
from kaizen_server.console.templating import page
from kaizen_server.db.models import Feedback, PromptVersion, Task
from kaizen_server.services.prompts import list_versions
from kaizen_server.services.record_search import (
    RecordQuery,
    search_feedback,
    search_traces,
    task_names,
)
from kaizen_server.services.traces import find_trace

__all__ = ["router"]

router = APIRouter()

ROWS_PER_PAGE = 50

TaskChoice = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]
Text = Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")]


def _start_of(day: date | None, *, days_after: int = 0) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day, time.min, UTC) + timedelta(days=days_after)


def _query(filters: dict[str, str]) -> RecordQuery:
    return RecordQuery(
        task_ref=filters["task"] or None,
        min_score=optional_score("min_score", filters["min_score"]),
        max_score=optional_score("max_score", filters["max_score"]),
        source=filters.get("source") or None,
        version_id=optional_uuid("version", filters["version"]),
        since=_start_of(optional_day("since", filters["since"])),
        until=_start_of(optional_day("until", filters["until"]), days_after=1),
    )


async def _choices(session: ReadSession, task: str | None) -> dict[str, Any]:
    """The task and version options of the filter form."""
    names = list((await session.scalars(select(Task.name).order_by(Task.name).limit(500))).all())
    versions: list[PromptVersion] = await list_versions(session, task) if task else []
    return {"task_names": names, "versions": versions}


def _filters(**values: str | None) -> dict[str, str]:
    """The filters as sent: they go back into the form and into the next page's link."""
    return {key: value or "" for key, value in values.items()}


@router.get("/feedback", name="console_feedback")
async def feedback(
    request: Request,
    user: ConsoleUser,
    session: ReadSession,
    task: TaskChoice = None,
    min_score: Text = None,
    max_score: Text = None,
    source: Text = None,
    version: Text = None,
    since: Text = None,
    until: Text = None,
    cursor: Cursor = None,
) -> Response:
    """Feedback, newest first, filtered."""
    filters = _filters(
        task=task,
        min_score=min_score,
        max_score=max_score,
        source=source,
        version=version,
        since=since,
        until=until,
    )
    query = _query(filters)
    rows = await search_feedback(session, query, limit=ROWS_PER_PAGE, cursor=cursor or None)
    return page(
        request,
        "feedback.html",
        {
            "user": user,
            "rows": rows.items,
            "next_cursor": rows.next_cursor,
            "names": await task_names(session, [row.task_id for row in rows.items]),
            "filters": filters,
            **await _choices(session, task),
        },
    )


@router.get("/traces", name="console_traces")
async def traces(
    request: Request,
    user: ConsoleUser,
    session: ReadSession,
    task: TaskChoice = None,
    min_score: Text = None,
    max_score: Text = None,
    version: Text = None,
    since: Text = None,
    until: Text = None,
    cursor: Cursor = None,
) -> Response:
    """Traces, newest first, filtered."""
    filters = _filters(
        task=task,
        min_score=min_score,
        max_score=max_score,
        version=version,
        since=since,
        until=until,
    )
    query = _query(filters)
    rows = await search_traces(session, query, limit=ROWS_PER_PAGE, cursor=cursor or None)
    return page(
        request,
        "traces.html",
        {
            "user": user,
            "rows": rows.items,
            "next_cursor": rows.next_cursor,
            "names": await task_names(session, [row.task_id for row in rows.items]),
            "filters": filters,
            **await _choices(session, task),
        },
    )


@router.get("/traces/{trace_id}", name="console_trace")
async def trace(
    request: Request, trace_id: str, user: ConsoleUser, session: ReadSession
) -> Response:
    """One trace: prompt, response, inputs, the version that served it, its feedback."""
    row = await find_trace(session, trace_id)
    rated = await session.scalar(select(Feedback).where(Feedback.trace_id == row.id))
    version = (
        await session.get(PromptVersion, row.prompt_version_id)
        if row.prompt_version_id is not None
        else None
    )
    names = await task_names(session, [row.task_id])
    return page(
        request,
        "trace.html",
        {
            "user": user,
            "trace": row,
            "feedback": rated,
            "version": version,
            "task_name": names.get(row.task_id, "?"),
        },
    )
