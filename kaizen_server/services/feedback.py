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
from kaizen_server.request_models import FeedbackCreate, JsonObject, NamesItsTask
from kaizen_server.services.errors import InputValidationError, NotFoundError
from kaizen_server.services.input_schema import InputSchema, compile_input_schema
from kaizen_server.services.optimization_window import threshold_reached_sync
from kaizen_server.services.pagination import Page
from kaizen_server.services.tasks import (
    dotted,
    find_task_sync,
    list_task_rows,
    task_on_first_use,
)
from kaizen_server.services.transactions import retry_on_conflict_sync
from kaizen_server.services.views import WireFields, row_fields, to_wire

__all__ = [
    "BatchTasks",
    "FeedbackRecord",
    "batch_tasks",
    "item_loc",
    "item_location",
    "list_feedback",
    "prune_feedback",
    "prune_feedback_sync",
    "record_feedback",
    "resolve_tasks",
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


def item_location(index: int, batch: bool) -> str:
    """Where an item sits in the request body, for error messages."""
    return dotted(item_loc(index, batch))


def item_loc(index: int, batch: bool) -> tuple[str | int, ...]:
    """:func:`item_location` as the parts of an error's ``loc``."""
    return ("body", "items", index) if batch else ("body",)


def _task_of(
    session: Session, item: NamesItsTask, index: int, batch: bool, found: dict[str, Task]
) -> Task:
    where = item_loc(index, batch)
    first_use = item.first_use_name()
    if first_use is not None:  # by name: found, or created with the settings sent along
        name = first_use[1]
        task = found.get(f"name:{name}")
        if task is None:
            task = task_on_first_use(session, name, item, where=where)
            found[f"name:{name}"] = task
        return task
    ref = item.task_id or ""
    task = found.get(ref)
    if task is None:
        try:
            task = found[ref] = find_task_sync(session, ref)
        except NotFoundError as exc:
            raise NotFoundError(f"{dotted(where)}.task_id: {exc.detail}") from exc
    if item.task_name is not None and item.task_name != task.name:
        message = f"names task {item.task_name!r}, but task_id is task {task.name!r}"
        loc = [*where, "task_name"]
        raise InputValidationError(
            f"{dotted(loc)}: {message}",
            errors=[{"loc": loc, "msg": message, "type": "value_error"}],
        )
    return task


def resolve_tasks(session: Session, items: Sequence[NamesItsTask], *, batch: bool) -> list[Task]:
    """The task of every item: by ``task_id`` (UUID or name; 404 naming the first unknown
    one), or by ``task_name``, creating the task on first use with the settings the item
    sends along (see :func:`kaizen_server.services.tasks.task_on_first_use`; nothing is
    committed here, so a batch that fails later leaves no task behind)."""
    found: dict[str, Task] = {}
    # Items of one batch mostly name the same task the same way: each way is resolved (and
    # checked) once, so a batch of 100 rows costs one lookup, not 100.
    by_reference: dict[tuple[str | None, str | None], Task] = {}
    tasks = []
    for index, item in enumerate(items):
        reference = (item.task_id, item.task_name)
        task = by_reference.get(reference)
        if task is None:
            task = by_reference[reference] = _task_of(session, item, index, batch, found)
        tasks.append(task)
    return tasks


@dataclass(frozen=True, slots=True)
class BatchTasks:
    """The distinct tasks of a batch's items (in the order they first appear), each worked out
    once, not once per item: its id and its compiled input schema (None: no schema).

    The ids are plain ``uuid.UUID``: on PostgreSQL asyncpg reads its own subclass, which
    ``pydantic_core.to_json`` writes 2.4x slower (the answer to 100 rows, each with its
    ``task_id``: 241 us, 101 us with plain UUIDs).
    """

    ids: dict[Task, uuid.UUID]
    schemas: dict[uuid.UUID, InputSchema | None]


def batch_tasks(tasks: Sequence[Task]) -> BatchTasks:
    """:class:`BatchTasks` of ``tasks``, the task of every item of a batch."""
    ids = {task: uuid.UUID(int=task.id.int) for task in dict.fromkeys(tasks)}
    schemas = {task_id: compile_input_schema(task.schema_json) for task, task_id in ids.items()}
    return BatchTasks(ids, schemas)


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
    await session.run_sync(prune_feedback_sync, task)


def prune_feedback_sync(session: Session, task: Task) -> None:
    """:func:`prune_feedback` in a sync session (a write unit of ``Database.write``)."""
    limit = task.feedback_retention_limit
    if limit is None:
        return
    count = session.scalar(
        select(func.count()).select_from(Feedback).where(Feedback.task_id == task.id)
    )
    excess = (count or 0) - limit
    if excess <= 0:
        return
    oldest = (
        select(Feedback.id)
        .where(Feedback.task_id == task.id)
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


def _store(
    session: Session, items: Sequence[FeedbackCreate], *, batch: bool
) -> list[FeedbackRecord]:
    tasks = resolve_tasks(session, items, batch=batch)
    known = batch_tasks(tasks)
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
        task_id = known.ids[task]
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
        schema = known.schemas[task_id]
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
    for task in known.ids:
        prune_feedback_sync(session, task)
    due = _tasks_due(session, {r.task_id for r in records if r.created})
    session.commit()
    if due:
        records = [dataclasses.replace(r, task_due=r.task_id in due) for r in records]
    return records


def _tasks_due(session: Session, task_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """The tasks (of ``task_ids``) at their optimization threshold, read in the write
    transaction, so the request needs no second session for the auto-trigger's check."""
    return {task_id for task_id in task_ids if threshold_reached_sync(session, task_id)}


def store_feedback(
    session: Session, items: Sequence[FeedbackCreate], *, batch: bool = False
) -> list[FeedbackRecord]:
    """Validate and store ``items`` all-or-nothing, in order, and commit (a write unit of
    ``Database.write``).

    A repeated client ``id`` returns the stored row (``created=False``), also when the repeat
    races the original. Feedback for a trace that already has feedback updates that row and
    sets the trace's score. Raises :class:`NotFoundError` (unknown task or trace) or
    :class:`InputValidationError` (inputs not matching ``schema_json``) naming the item.
    """
    return retry_on_conflict_sync(
        session, lambda: _store(session, items, batch=batch), what="feedback"
    )


async def record_feedback(
    session: AsyncSession, items: Sequence[FeedbackCreate], *, batch: bool = False
) -> list[FeedbackRecord]:
    """:func:`store_feedback` in ``session``."""
    return await session.run_sync(store_feedback, items, batch=batch)


async def list_feedback(
    session: AsyncSession, *, task_ref: str | None, limit: int, cursor: str | None
) -> Page[Feedback]:
    """Feedback newest first, optionally of one task."""
    return await list_task_rows(session, Feedback, task_ref=task_ref, limit=limit, cursor=cursor)
