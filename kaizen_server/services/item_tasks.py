"""The task each item of a feedback or trace write names, read once per batch and reference.

An item names its task by ``task_id`` (UUID or name) or by ``task_name`` (created on first
use with the settings sent along). A write needs little of the task: its id, its name (for
errors), its compiled input schema, its retention limit and whether the feedback may have
brought it to its optimization threshold. :func:`resolve_item_tasks` reads exactly that, with
the task's threshold and whether it has an active job, in one statement per distinct
reference (a batch of 100 rows of one task: one statement, not an ORM load plus a threshold
query).

Example:
    >>> tasks = resolve_item_tasks(session, items, batch=True)  # doctest: +SKIP
    >>> tasks[0].name  # doctest: +SKIP
    'summarize_ticket'
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, String, Uuid, bindparam, or_, select
from sqlalchemy.orm import Session

from kaizen_server.db.models import Task
from kaizen_server.request_models import NamesItsTask
from kaizen_server.services.errors import InputValidationError, NotFoundError
from kaizen_server.services.input_schema import InputSchema, compile_input_schema
from kaizen_server.services.optimization_window import has_active_job, window_reaches
from kaizen_server.services.tasks import (
    dotted,
    parse_uuid,
    task_not_found,
    task_on_first_use,
    usable_task_ref,
)

__all__ = ["ItemTask", "item_loc", "item_location", "resolve_item_tasks"]


@dataclass(frozen=True, slots=True)
class ItemTask:
    """What a write of feedback or traces needs of a task.

    ``id`` is a plain ``uuid.UUID``: on PostgreSQL asyncpg reads its own subclass, which
    ``pydantic_core.to_json`` writes 2.4x slower (the answer to 100 rows, each with its
    ``task_id``: 241 us, 101 us with plain UUIDs).
    """

    id: uuid.UUID
    name: str
    schema: InputSchema | None
    retention_limit: int | None
    threshold: int
    job_active: bool

    def threshold_reached(self, session: Session) -> bool:
        """True when the task has no active job (as read with the task, in the same
        transaction) and its window holds at least its threshold of feedback."""
        return not self.job_active and window_reaches(session, self.id, self.threshold)


def item_location(index: int, batch: bool) -> str:
    """Where an item sits in the request body, for error messages."""
    return dotted(item_loc(index, batch))


def item_loc(index: int, batch: bool) -> tuple[str | int, ...]:
    """:func:`item_location` as the parts of an error's ``loc``."""
    return ("body", "items", index) if batch else ("body",)


@cache
def _item_task_statement(
    by_name: bool, by_id: bool
) -> Select[uuid.UUID, str, dict[str, Any] | None, int | None, int, bool]:
    """The :class:`ItemTask` columns of the task named ``:name`` and/or whose id is ``:id``,
    built once per variant (only the parameters are bound per call)."""
    conditions = []
    if by_id:
        conditions.append(Task.id == bindparam("id", type_=Uuid()))
    if by_name:
        conditions.append(Task.name == bindparam("name", type_=String()))
    return (
        select(
            Task.id,
            Task.name,
            Task.schema_json,
            Task.feedback_retention_limit,
            Task.feedback_threshold,
            has_active_job(Task.id).label("job_active"),
        )
        .where(or_(*conditions))
        .limit(1)
    )


def _read_item_task(
    session: Session, *, name: str | None, task_id: uuid.UUID | None
) -> ItemTask | None:
    statement = _item_task_statement(name is not None, task_id is not None)
    row = session.connection().execute(statement, {"name": name, "id": task_id}).first()
    if row is None:
        return None
    return ItemTask(
        id=uuid.UUID(int=row.id.int),
        name=row.name,
        schema=compile_input_schema(row.schema_json),
        retention_limit=row.feedback_retention_limit,
        threshold=row.feedback_threshold,
        job_active=bool(row.job_active),
    )


def _find_item_task(session: Session, ref: str, where: Sequence[str | int]) -> ItemTask:
    task = None
    if usable_task_ref(ref):
        task = _read_item_task(session, name=ref, task_id=parse_uuid(ref))
    if task is None:
        raise NotFoundError(f"{dotted(where)}.task_id: {task_not_found(ref).detail}")
    return task


def _task_of(
    session: Session, item: NamesItsTask, index: int, batch: bool, found: dict[str, ItemTask]
) -> ItemTask:
    where = item_loc(index, batch)
    first_use = item.first_use_name()
    if first_use is not None:  # by name: found, or created with the settings sent along
        name = first_use[1]
        task = found.get(f"name:{name}")
        if task is None:
            created = task_on_first_use(session, name, item, where=where)
            task = _read_item_task(session, name=None, task_id=created.id)
            assert task is not None  # flushed in this transaction
            found[f"name:{name}"] = task
        return task
    ref = item.task_id or ""
    task = found.get(ref)
    if task is None:
        task = found[ref] = _find_item_task(session, ref, where)
    if item.task_name is not None and item.task_name != task.name:
        message = f"names task {item.task_name!r}, but task_id is task {task.name!r}"
        loc = [*where, "task_name"]
        raise InputValidationError(
            f"{dotted(loc)}: {message}",
            errors=[{"loc": loc, "msg": message, "type": "value_error"}],
        )
    return task


def resolve_item_tasks(
    session: Session, items: Sequence[NamesItsTask], *, batch: bool
) -> list[ItemTask]:
    """The task of every item: by ``task_id`` (UUID or name; 404 naming the first unknown
    one), or by ``task_name``, creating the task on first use with the settings the item
    sends along (see :func:`kaizen_server.services.tasks.task_on_first_use`; nothing is
    committed here, so a batch that fails later leaves no task behind)."""
    found: dict[str, ItemTask] = {}
    # Items of one batch mostly name the same task the same way: each way is resolved (and
    # checked) once, so a batch of 100 rows costs one lookup, not 100.
    by_reference: dict[tuple[str | None, str | None], ItemTask] = {}
    tasks = []
    for index, item in enumerate(items):
        reference = (item.task_id, item.task_name)
        task = by_reference.get(reference)
        if task is None:
            task = by_reference[reference] = _task_of(session, item, index, batch, found)
        tasks.append(task)
    return tasks
