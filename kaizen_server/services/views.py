"""Turn ORM rows into the wire models of ``kaizen_sdk.models`` (one definition for both ends).

A row's *wire fields* are the values of the wire model's fields, named as on the wire (the
column ``metadata``, not the attribute ``metadata_``), with UUIDs and datetimes still Python
objects: what :func:`to_wire` makes a model of, and what ``pydantic_core.to_json`` writes
exactly as the model would be written, so a batch of 1000 rows is answered without building
1000 models.

Example:
    >>> from kaizen_server.db.models import Feedback
    >>> import uuid
    >>> row = Feedback(id=uuid.uuid4(), task_id=uuid.uuid4(), score=0.5, source="sdk")
    >>> feedback_view(row).score
    0.5
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import inspect as sa_inspect

from kaizen_sdk import models as wire
from kaizen_server.db import models as orm

__all__ = [
    "TaskStats",
    "WireFields",
    "feedback_view",
    "job_view",
    "prompt_view",
    "row_fields",
    "task_view",
    "to_wire",
    "trace_view",
]


WireT = TypeVar("WireT", bound=BaseModel)
WireFields = dict[str, Any]
"""A row as a wire model's fields (UUIDs and datetimes as objects), e.g. for ``to_json``."""


@cache
def _attributes_by_field(
    row_type: type[orm.Base], wire_type: type[BaseModel]
) -> tuple[tuple[str, str], ...]:
    """``(wire field, row attribute)`` of the columns whose name is a field of ``wire_type``."""
    return tuple(
        (prop.columns[0].name, prop.key)
        for prop in sa_inspect(row_type).column_attrs
        if prop.columns[0].name in wire_type.model_fields
    )


def row_fields(wire_type: type[BaseModel], row: orm.Base) -> WireFields:
    """The wire fields of a stored ``row`` (its columns that ``wire_type`` has)."""
    return {field: getattr(row, key) for field, key in _attributes_by_field(type(row), wire_type)}


def to_wire(wire_type: type[WireT], fields: Mapping[str, Any], **extra: object) -> WireT:
    """``wire_type`` from wire ``fields`` (UUIDs as strings) plus ``extra`` fields."""
    values = {
        name: str(value) if isinstance(value, uuid.UUID) else value
        for name, value in fields.items()
    }
    return wire_type(**values, **extra)


def _from_row(wire_type: type[WireT], row: orm.Base, **extra: object) -> WireT:
    """``wire_type`` from the row's columns plus ``extra``."""
    return to_wire(wire_type, row_fields(wire_type, row), **extra)


@dataclass(frozen=True)
class TaskStats:
    """Aggregates shown on a task: feedback counts, last optimization, active score."""

    feedback_count: int = 0
    feedback_since_optimization: int = 0
    last_optimization: datetime | None = None
    active_prompt_score: float | None = None


def task_view(task: orm.Task, stats: TaskStats) -> wire.Task:
    """The wire ``Task`` of a row plus its aggregates."""
    return _from_row(
        wire.Task,
        task,
        feedback_count=stats.feedback_count,
        last_optimization=stats.last_optimization,
        active_prompt_score=stats.active_prompt_score,
        threshold_progress=f"{stats.feedback_since_optimization}/{task.feedback_threshold}",
    )


def prompt_view(version: orm.PromptVersion) -> wire.Prompt:
    """The wire ``Prompt`` of a prompt version row."""
    return _from_row(wire.Prompt, version, evaluated=version.eval_score is not None)


def feedback_view(row: orm.Feedback) -> wire.FeedbackResult:
    """The wire ``FeedbackResult`` of a feedback row."""
    return _from_row(wire.FeedbackResult, row)


def trace_view(row: orm.Trace) -> wire.TraceResult:
    """The wire ``TraceResult`` of a trace row."""
    return _from_row(wire.TraceResult, row)


def job_view(job: orm.OptimizationJob) -> wire.Job:
    """The wire ``Job`` of an optimization job row."""
    return _from_row(wire.Job, job)
