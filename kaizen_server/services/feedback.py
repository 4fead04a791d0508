"""Feedback: the ONE place feedback rows are created (single, batch, trace scores).

``record_feedback`` validates every item before writing anything, stores the batch in one
transaction, returns stored rows for repeated client ids, and prunes each task down to its
``feedback_retention_limit``. Before committing it reads, in the same transaction, whether
the new feedback brought its task to the optimization threshold (``task_due`` on the records);
the auto-trigger queues the job after the commit
(``kaizen_server.services.optimize.queue_due_optimizations``).

The work is one sync function, :func:`store_feedback`, a write unit: the batch endpoints
run it with ``Database.write`` (on SQLite: one hop to the write thread for the whole
transaction), :func:`record_feedback` in an ``AsyncSession``.

Example:
    >>> records = await database.write(store_feedback, [FeedbackCreate(task_id="t", score=1.0)])
    ... # doctest: +SKIP
    >>> records[0].created  # doctest: +SKIP
    True
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kaizen_sdk import models as wire
from kaizen_server.db.bulk_insert import insert_rows_sync
from kaizen_server.db.columns import new_ids, utc_now_series
from kaizen_server.db.models import Feedback, Task, Trace, table_of
from kaizen_server.request_models import FeedbackCreate, JsonObject
from kaizen_server.services.errors import InputValidationError, NotFoundError
from kaizen_server.services.item_tasks import item_location, resolve_item_tasks
from kaizen_server.services.pagination import Page
from kaizen_server.services.tasks import list_task_rows
from kaizen_server.services.transactions import retry_on_conflict
from kaizen_server.services.views import WireFields, row_fields, to_wire

__all__ = [
    "FeedbackRecord",
    "list_feedback",
    "prune_feedback",
    "record_feedback",
    "store_feedback",
]


@dataclass(slots=True)  # not frozen: one is made per row, frozen took 0.76 us, this 0.27 us
class FeedbackRecord:
    """A stored feedback row, whether this call created it (False: a repeat or update), and
    whether its task reached its optimization threshold with this call's feedback."""

    fields: WireFields
    created: bool
    task_id: uuid.UUID
    task_due: bool = False

    @property
    def result(self) -> wire.FeedbackResult:
        """The row as the wire model."""
        return to_wire(wire.FeedbackResult, self.fields)


def _feedback_by_id(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Feedback]:
    if not ids:
        return {}
    rows = session.scalars(select(Feedback).where(Feedback.id.in_(ids)))
    return {row.id: row for row in rows}


def _traces_by_id(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Trace]:
    if not ids:
        return {}
    rows = session.scalars(select(Trace).where(Trace.id.in_(ids)))
    return {row.id: row for row in rows}


def _feedback_by_trace(session: Session, trace_ids: set[uuid.UUID]) -> dict[uuid.UUID, Feedback]:
    if not trace_ids:
        return {}
    rows = session.scalars(select(Feedback).where(Feedback.trace_id.in_(trace_ids)))
    return {row.trace_id: row for row in rows if row.trace_id is not None}


async def prune_feedback(session: AsyncSession, task: Task) -> None:
    """Delete the oldest feedback of ``task`` beyond its ``feedback_retention_limit``."""
    await session.run_sync(_prune, task.id, task.feedback_retention_limit)


def _prune(session: Session, task_id: uuid.UUID, limit: int | None) -> None:
    """Delete the oldest feedback of task ``task_id`` beyond ``limit`` rows (None: keep all)."""
    if limit is None:
        return
    count = session.scalar(
        select(func.count()).select_from(Feedback).where(Feedback.task_id == task_id)
    )
    excess = (count or 0) - limit
    if excess <= 0:
        return
    oldest = (
        select(Feedback.id)
        .where(Feedback.task_id == task_id)
        .order_by(Feedback.created_at.asc(), Feedback.id.asc())
        .limit(excess)
    )
    session.execute(
        delete(Feedback).where(Feedback.id.in_(oldest)).execution_options(synchronize_session=False)
    )


def _rerated(
    item: FeedbackCreate, inputs: JsonObject | None, output: str | None, metadata: Any
) -> dict[str, Any]:
    """The columns a new rating of an already rated trace changes on its feedback row, given
    the row's current ``output`` and ``metadata``."""
    return {
        "inputs": inputs,
        "output": item.output if item.output is not None else output,
        "score": item.score,
        "source": item.source,
        "metadata": item.metadata if item.metadata is not None else metadata,
    }


def _update(row: Feedback, item: FeedbackCreate, inputs: JsonObject | None) -> None:
    changes = _rerated(item, inputs, row.output, row.metadata_)
    row.metadata_ = changes.pop("metadata")
    for column, value in changes.items():
        setattr(row, column, value)


def _stored_fields(row: Feedback) -> WireFields:
    return row_fields(wire.FeedbackResult, row)


def store_feedback(
    session: Session, items: Sequence[FeedbackCreate], *, batch: bool = False
) -> list[FeedbackRecord]:
    """Validate and store ``items`` all-or-nothing, in order, in ``session``'s transaction (a
    write unit of ``Database.write``, which commits it).

    A repeated client ``id`` returns the stored row (``created=False``), also when the repeat
    races the original (the unit runs again). Feedback for a trace that already has feedback
    updates that row and sets the trace's score. Raises :class:`NotFoundError` (unknown task
    or trace) or :class:`InputValidationError` (inputs not matching ``schema_json``) naming
    the item.
    """
    tasks = resolve_item_tasks(session, items, batch=batch)
    client_ids = {i.id for i in items if i.id is not None}
    trace_ids = {i.trace_id for i in items if i.trace_id is not None}
    existing = _feedback_by_id(session, client_ids)
    traces = _traces_by_id(session, trace_ids)
    by_trace = _feedback_by_trace(session, trace_ids)
    records: list[FeedbackRecord] = []
    timestamps = iter(utc_now_series(len(items)))  # one clock read for the batch
    row_ids = iter(new_ids(len(items) - len(client_ids)))
    new_rows: list[dict[str, Any]] = []
    new_by_id: dict[uuid.UUID, dict[str, Any]] = {}
    new_by_trace: dict[uuid.UUID, tuple[dict[str, Any], int]] = {}  # row, index of its record
    for index, (item, task) in enumerate(zip(items, tasks, strict=True)):
        task_id = task.id
        item_id = item.id
        if item_id is not None:
            stored = existing.get(item_id)
            if stored is not None:
                records.append(FeedbackRecord(_stored_fields(stored), False, stored.task_id))
                continue
            if item_id in new_by_id:
                records.append(FeedbackRecord(dict(new_by_id[item_id]), False, task_id))
                continue
        trace = None
        if item.trace_id is not None:
            trace = traces.get(item.trace_id)
            if trace is None:
                raise NotFoundError(
                    f"{item_location(index, batch)}.trace_id: Trace '{item.trace_id}' not found"
                )
            if trace.task_id != task_id:
                raise InputValidationError(
                    f"{item_location(index, batch)}.trace_id: trace '{trace.id}' belongs to "
                    "another task"
                )
        inputs = item.inputs if item.inputs is not None or trace is None else trace.inputs
        schema = task.schema
        if schema is not None and inputs is not None and not schema.is_valid(inputs):
            schema.check(inputs, f"{item_location(index, batch)}.inputs")
        if trace is not None:
            trace.score = item.score
            trace.scored_by = item.source
            stored = by_trace.get(trace.id)
            if stored is not None:  # the trace already has its feedback row: update it
                _update(stored, item, inputs)
                records.append(FeedbackRecord(_stored_fields(stored), False, task_id))
                continue
            rated = new_by_trace.get(trace.id)
            if rated is not None:  # a second rating of the same trace in this batch
                values, first = rated
                if records[first].fields is values:  # its record keeps what it answered
                    records[first] = dataclasses.replace(records[first], fields=dict(values))
                values.update(_rerated(item, inputs, values["output"], values["metadata"]))
                records.append(FeedbackRecord(dict(values), False, task_id))
                continue
        # In the wire model's field order: the row's values are also its answer.
        values = {
            "id": item_id if item_id is not None else next(row_ids),
            "task_id": task_id,
            "inputs": inputs,
            "output": item.output
            if item.output is not None or trace is None
            else trace.response_text,
            "score": item.score,
            "source": item.source,
            "metadata": item.metadata,
            "trace_id": item.trace_id,
            "created_at": next(timestamps),
        }
        new_rows.append(values)
        if item_id is not None:
            new_by_id[item_id] = values
        if trace is not None:
            new_by_trace[trace.id] = (values, len(records))
        records.append(FeedbackRecord(values, True, task_id))
    if new_rows:
        insert_rows_sync(session, table_of(Feedback), new_rows)
    session.flush()
    distinct = {task.id: task for task in tasks}.values()
    for task in distinct:
        _prune(session, task.id, task.retention_limit)
    created = {record.task_id for record in records if record.created}
    due = {task.id for task in distinct if task.id in created and task.threshold_reached(session)}
    if due:
        records = [dataclasses.replace(r, task_due=r.task_id in due) for r in records]
    return records


async def record_feedback(
    session: AsyncSession, items: Sequence[FeedbackCreate], *, batch: bool = False
) -> list[FeedbackRecord]:
    """:func:`store_feedback` in ``session``, committed."""

    async def attempt() -> list[FeedbackRecord]:
        records = await session.run_sync(store_feedback, items, batch=batch)
        await session.commit()
        return records

    return await retry_on_conflict(session, attempt, what="feedback")


async def list_feedback(
    session: AsyncSession, *, task_ref: str | None, limit: int, cursor: str | None
) -> Page[Feedback]:
    """Feedback newest first, optionally of one task."""
    return await list_task_rows(session, Feedback, task_ref=task_ref, limit=limit, cursor=cursor)
