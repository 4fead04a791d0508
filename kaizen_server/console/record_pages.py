"""The console's feedback and trace browsers: filters, cursor pages, a trace with its feedback.

Every comment, output and input is rendered escaped (the templates autoescape).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.api.dependencies import ReadSession
from kaizen_server.console.auth import ConsoleUser, SignedInUser
from kaizen_server.console.query_values import optional_day, optional_score, optional_uuid
from kaizen_server.console.templating import page
from kaizen_server.db.models import Feedback, PromptVersion, Task
from kaizen_server.services.pagination import Page
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


def _start_of(day: date | None, *, days_after: int = 0) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day, time.min, UTC) + timedelta(days=days_after)


async def _choices(session: AsyncSession, task: str | None) -> dict[str, Any]:
    """The task and version options of the filter form."""
    names = list((await session.scalars(select(Task.name).order_by(Task.name).limit(500))).all())
    versions: list[PromptVersion] = await list_versions(session, task) if task else []
    return {"task_names": names, "versions": versions}


class RecordFilters(BaseModel):
    """The filter form's fields as sent (an empty field filters nothing)."""

    model_config = ConfigDict(extra="ignore")

    task: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] = ""
    min_score: Annotated[str, Field(max_length=100)] = ""
    max_score: Annotated[str, Field(max_length=100)] = ""
    source: Annotated[str, Field(max_length=100, pattern=r"^[^\x00]*$")] = ""
    version: Annotated[str, Field(max_length=100)] = ""
    since: Annotated[str, Field(max_length=100)] = ""
    until: Annotated[str, Field(max_length=100)] = ""
    cursor: Annotated[str, Field(max_length=200)] = ""

    def query(self) -> RecordQuery:
        """What to search for; :class:`ConsoleError` (422) naming a bad field."""
        return RecordQuery(
            task_ref=self.task or None,
            min_score=optional_score("min_score", self.min_score),
            max_score=optional_score("max_score", self.max_score),
            source=self.source or None,
            version_id=optional_uuid("version", self.version),
            since=_start_of(optional_day("since", self.since)),
            until=_start_of(optional_day("until", self.until), days_after=1),
        )

    def sent(self) -> dict[str, str]:
        """The filters for the form and the next page's link (not the cursor)."""
        return self.model_dump(exclude={"cursor"})


Filters = Annotated[RecordFilters, Query()]
Search = Callable[..., Awaitable[Page[Any]]]


async def _browse(
    request: Request,
    user: SignedInUser,
    session: AsyncSession,
    filters: RecordFilters,
    search: Search,
    template: str,
) -> Response:
    rows = await search(
        session, filters.query(), limit=ROWS_PER_PAGE, cursor=filters.cursor or None
    )
    return page(
        request,
        template,
        {
            "user": user,
            "rows": rows.items,
            "next_cursor": rows.next_cursor,
            "names": await task_names(session, [row.task_id for row in rows.items]),
            "filters": filters.sent(),
            **await _choices(session, filters.task or None),
        },
    )


@router.get("/feedback", name="console_feedback")
async def feedback(
    request: Request, user: ConsoleUser, session: ReadSession, filters: Filters
) -> Response:
    """Feedback, newest first, filtered."""
    return await _browse(request, user, session, filters, search_feedback, "feedback.html")


@router.get("/traces", name="console_traces")
async def traces(
    request: Request, user: ConsoleUser, session: ReadSession, filters: Filters
) -> Response:
    """Traces, newest first, filtered (by everything but the feedback source)."""
    filters = filters.model_copy(update={"source": ""})
    return await _browse(request, user, session, filters, search_traces, "traces.html")


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
