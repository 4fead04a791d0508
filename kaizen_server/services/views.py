"""Turn ORM rows into the wire models of ``kaizen_sdk.models`` (one definition for both ends).

Example:
    >>> from kaizen_server.db.models import Feedback
    >>> import uuid
    >>> row = Feedback(id=uuid.uuid4(), task_id=uuid.uuid4(), score=0.5, source="sdk")
    >>> feedback_view(row).score
    0.5
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import inspect as sa_inspect

from kaizen_sdk import models as wire
from kaizen_server.db import models as orm

__all__ = ["TaskStats", "feedback_view", "job_view", "prompt_view", "task_view", "trace_view"]


WireT = TypeVar("WireT", bound=BaseModel)


@cache
def _shared_columns(row_type: type[orm.Base], wire_type: type[BaseModel]) -> tuple[str, ...]:
    columns = sa_inspect(row_type).column_attrs.keys()
    return tuple(name for name in columns if name in wire_type.model_fields)


def _from_row(wire_type: type[WireT], row: orm.Base, **extra: object) -> WireT:
    """``wire_type`` from the row's same-named columns (UUIDs as strings) plus ``extra``."""
    values: dict[str, object] = {}
    for name in _shared_columns(type(row), wire_type):
        value = getattr(row, name)
        values[name] = str(value) if isinstance(value, uuid.UUID) else value
    return wire_type(**values, **extra)


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
    return _from_row(wire.Prompt, version)


def feedback_view(row: orm.Feedback) -> wire.FeedbackResult:
    """The wire ``FeedbackResult`` of a feedback row (column ``metadata_`` -> ``metadata``)."""
    return _from_row(wire.FeedbackResult, row, metadata=row.metadata_)


def trace_view(row: orm.Trace) -> wire.TraceResult:
    """The wire ``TraceResult`` of a trace row (column ``metadata_`` -> ``metadata``)."""
    return _from_row(wire.TraceResult, row, metadata=row.metadata_)


def job_view(job: orm.OptimizationJob) -> wire.Job:
    """The wire ``Job`` of an optimization job row."""
    return _from_row(wire.Job, job)
