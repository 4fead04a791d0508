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

from kaizen_sdk import models as wire
from kaizen_server.db import models as orm

__all__ = ["TaskStats", "feedback_view", "job_view", "prompt_view", "task_view", "trace_view"]


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class TaskStats:
    """Aggregates shown on a task: feedback counts, last optimization, active score."""

    feedback_count: int = 0
    feedback_since_optimization: int = 0
    last_optimization: datetime | None = None
    active_prompt_score: float | None = None


def task_view(task: orm.Task, stats: TaskStats) -> wire.Task:
    """The wire ``Task`` of a row plus its aggregates."""
    return wire.Task(
        id=str(task.id),
        name=task.name,
        description=task.description,
        schema_json=task.schema_json,
        feedback_threshold=task.feedback_threshold,
        feedback_retention_limit=task.feedback_retention_limit,
        evaluator_config=task.evaluator_config,
        teacher_model=task.teacher_model,
        judge_model=task.judge_model,
        module_type=task.module_type,
        cost_budget=task.cost_budget,
        github_repo=task.github_repo,
        github_base_branch=task.github_base_branch,
        prompt_path=task.prompt_path,
        prompt_format=task.prompt_format,
        auto_activate=task.auto_activate,
        activation_margin=task.activation_margin,
        created_at=task.created_at,
        feedback_count=stats.feedback_count,
        last_optimization=stats.last_optimization,
        active_prompt_score=stats.active_prompt_score,
        threshold_progress=f"{stats.feedback_since_optimization}/{task.feedback_threshold}",
    )


def prompt_view(version: orm.PromptVersion) -> wire.Prompt:
    """The wire ``Prompt`` of a prompt version row."""
    return wire.Prompt(
        id=str(version.id),
        task_id=str(version.task_id),
        version_number=version.version_number,
        prompt_text=version.prompt_text,
        eval_score=version.eval_score,
        status=version.status,
        optimizer=version.optimizer,
        dspy_version=version.dspy_version,
        created_at=version.created_at,
    )


def feedback_view(row: orm.Feedback) -> wire.FeedbackResult:
    """The wire ``FeedbackResult`` of a feedback row."""
    return wire.FeedbackResult(
        id=str(row.id),
        task_id=str(row.task_id),
        inputs=row.inputs,
        output=row.output,
        score=row.score,
        source=row.source,
        metadata=row.metadata_,
        trace_id=_str(row.trace_id),
        created_at=row.created_at,
    )


def trace_view(row: orm.Trace) -> wire.TraceResult:
    """The wire ``TraceResult`` of a trace row."""
    return wire.TraceResult(
        id=str(row.id),
        task_id=str(row.task_id),
        prompt_text=row.prompt_text,
        response_text=row.response_text,
        model=row.model,
        tokens=row.tokens,
        latency_ms=row.latency_ms,
        score=row.score,
        scored_by=row.scored_by,
        inputs=row.inputs,
        prompt_version_id=_str(row.prompt_version_id),
        metadata=row.metadata_,
        created_at=row.created_at,
    )


def job_view(job: orm.OptimizationJob) -> wire.Job:
    """The wire ``Job`` of an optimization job row."""
    return wire.Job(
        id=str(job.id),
        task_id=str(job.task_id),
        prompt_version_id=_str(job.prompt_version_id),
        status=job.status,
        triggered_by=job.triggered_by,
        feedback_count=job.feedback_count,
        pr_url=job.pr_url,
        error_message=job.error_message,
        job_metadata=job.job_metadata,
        progress_step=job.progress_step,
        started_at=job.started_at,
        completed_at=job.completed_at,
        created_at=job.created_at,
    )
