"""Export a task's feedback or traces as JSONL, oldest first, for fine-tuning or archiving.

Two formats:

* ``rows``: each line is the stored row exactly as the API returns it (``FeedbackResult`` /
  ``TraceResult``). A feedback ``rows`` export loads back as a seed upload as it is
  (``POST /api/v1/tasks/{task}/seed`` ignores the keys it does not need).
* ``chat``: each line is one chat-format fine-tuning example (OpenAI's JSONL format,
  ``{"messages": [...]}``): ``system`` the prompt (the trace's ``prompt_text`` when the row
  has a trace, else the task's active prompt; left out when there is none), ``user`` the
  inputs as a JSON object, ``assistant`` the rated output. Rows without an output are left
  out (nothing to learn from).

Rows are read in pages of :data:`PAGE_ROWS`, each in its own short read transaction, so an
export holds no connection or lock while the client reads slowly; rows stored while it runs
appear at its end.

Example:
    >>> plan = await plan_export(session, "summarize_ticket", "feedback", "chat", 0.7)
    ... # doctest: +SKIP
    >>> async for line in export_lines(database, plan):  # doctest: +SKIP
    ...     print(line.decode())
    {"messages":[{"role":"system","content":"Summarize ..."},{"role":"user",...},...]}
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic_core import to_json
from sqlalchemy import ColumnElement, Select, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_sdk import models as wire
from kaizen_server.db.engine import Database
from kaizen_server.db.models import Feedback, PromptVersion, Trace
from kaizen_server.services.tasks import find_task
from kaizen_server.services.views import row_fields

__all__ = [
    "PAGE_ROWS",
    "ExportFormat",
    "ExportPlan",
    "ExportRecords",
    "chat_example",
    "export_lines",
    "plan_export",
]

PAGE_ROWS = 500
"""Rows read per transaction."""

ExportRecords = Literal["feedback", "traces"]
ExportFormat = Literal["rows", "chat"]


@dataclass(frozen=True)
class ExportPlan:
    """What to export: whose rows, which, how, and the prompt a chat example starts with."""

    task_id: uuid.UUID
    task_name: str
    records: ExportRecords
    format: ExportFormat
    min_score: float | None
    active_prompt: str | None


def chat_example(system: str | None, inputs: Any, output: str | None) -> dict[str, Any] | None:
    """One chat fine-tuning example, or None when there is no output to learn.

    Example:
        >>> chat_example("Summarize.", {"ticket": "No refund"}, "Refund pending.")["messages"][1]
        {'role': 'user', 'content': '{"ticket":"No refund"}'}
        >>> chat_example(None, {"ticket": "x"}, None) is None
        True
    """
    if not output:
        return None
    messages = [] if not system else [{"role": "system", "content": system}]
    user = to_json(inputs).decode() if inputs is not None else ""
    if not user:
        if not system:
            return None  # neither inputs nor a prompt: no question to the answer
        messages = [{"role": "user", "content": system}]  # the prompt was the whole question
    else:
        messages.append({"role": "user", "content": user})
    messages.append({"role": "assistant", "content": output})
    return {"messages": messages}


async def plan_export(
    session: AsyncSession,
    task_ref: str,
    records: ExportRecords,
    export_format: ExportFormat,
    min_score: float | None,
) -> ExportPlan:
    """Resolve the task (:class:`NotFoundError` before anything is streamed) and its prompt."""
    task = await find_task(session, task_ref)
    active = await session.scalar(
        select(PromptVersion.prompt_text).where(
            PromptVersion.task_id == task.id,
            PromptVersion.status == wire.PromptStatus.ACTIVE.value,
        )
    )
    return ExportPlan(task.id, task.name, records, export_format, min_score, active)


Position = tuple[datetime, uuid.UUID]


def _after(entity: type[Feedback] | type[Trace], position: Position | None) -> ColumnElement[bool]:
    if position is None:
        return true()
    created, ident = position
    return or_(entity.created_at > created, and_(entity.created_at == created, entity.id > ident))


def _page_query(
    entity: type[Feedback] | type[Trace], plan: ExportPlan, position: Position | None
) -> Select[Feedback | Trace, str | None]:
    statement: Select[Feedback | Trace, str | None]
    if entity is Feedback:
        statement = select(Feedback, Trace.prompt_text).outerjoin(
            Trace, Trace.id == Feedback.trace_id
        )
    else:
        statement = select(Trace, Trace.prompt_text)
    statement = statement.where(entity.task_id == plan.task_id, _after(entity, position))
    if plan.min_score is not None:
        statement = statement.where(entity.score >= plan.min_score)
    return statement.order_by(entity.created_at, entity.id).limit(PAGE_ROWS)


def _line(plan: ExportPlan, row: Feedback | Trace, prompt: str | None) -> bytes | None:
    if plan.format == "rows":
        model = wire.FeedbackResult if isinstance(row, Feedback) else wire.TraceResult
        return to_json(row_fields(model, row)) + b"\n"
    output = row.output if isinstance(row, Feedback) else row.response_text
    example = chat_example(prompt or plan.active_prompt, row.inputs, output)
    return None if example is None else to_json(example) + b"\n"


async def _page(
    database: Database, plan: ExportPlan, position: Position | None
) -> Sequence[tuple[Feedback | Trace, str | None]]:
    entity: type[Feedback] | type[Trace] = Feedback if plan.records == "feedback" else Trace
    async with database.reader() as session:
        result = await session.execute(_page_query(entity, plan, position))
        rows = [(row[0], row[1]) for row in result.all()]
        for row, _prompt in rows:
            session.expunge(row)
        return rows


async def export_lines(database: Database, plan: ExportPlan) -> AsyncIterator[bytes]:
    """The JSONL lines of ``plan``, oldest row first, a page of rows at a time."""
    position: Position | None = None
    while True:
        rows = await _page(database, plan, position)
        lines = [_line(plan, row, prompt) for row, prompt in rows]
        chunk = b"".join(line for line in lines if line is not None)
        if chunk:
            yield chunk
        if len(rows) < PAGE_ROWS:
            return
        last = rows[-1][0]
        position = (last.created_at, last.id)
