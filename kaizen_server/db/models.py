"""ORM models of the CT server's tables.

UUID primary keys use SQLAlchemy's portable ``Uuid`` type (native ``uuid`` on PostgreSQL,
``CHAR(32)`` on SQLite). The schema itself is created by the Alembic migrations in
``kaizen_server/migrations``, never by ``create_all`` at runtime.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kaizen_server.db.columns import UTCDateTime, utc_now

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "ApiKey",
    "Base",
    "ConsoleSession",
    "Feedback",
    "OptimizationJob",
    "PromptEvent",
    "PromptVersion",
    "Rollout",
    "Task",
    "Trace",
    "table_of",
]

ACTIVE_JOB_STATUSES = ("PENDING", "RUNNING")
"""Job statuses that block a new optimization of the same task."""

_ACTIVE_JOB_WHERE = text("status IN ('PENDING', 'RUNNING')")
_ACTIVE_PROMPT_WHERE = text("status = 'active'")
_RUNNING_ROLLOUT_WHERE = text("status = 'running'")


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Task(Base):
    """A task: one LLM feature whose prompt is optimized."""

    __tablename__ = "tasks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    schema_json: Mapped[dict[str, Any] | None]
    feedback_threshold: Mapped[int] = mapped_column(Integer, default=50)
    feedback_retention_limit: Mapped[int | None] = mapped_column(Integer)
    evaluator_config: Mapped[dict[str, Any] | None]
    teacher_model: Mapped[str | None] = mapped_column(Text)
    judge_model: Mapped[str | None] = mapped_column(Text)
    module_type: Mapped[str | None] = mapped_column(Text)
    cost_budget: Mapped[float | None] = mapped_column(Float)
    github_repo: Mapped[str | None] = mapped_column(Text)
    github_base_branch: Mapped[str | None] = mapped_column(Text)
    prompt_path: Mapped[str | None] = mapped_column(Text)
    prompt_format: Mapped[str | None] = mapped_column(String(16))
    auto_activate: Mapped[bool] = mapped_column(Boolean, default=False)
    activation_margin: Mapped[float] = mapped_column(Float, default=0.0)
    mode: Mapped[str] = mapped_column(String(16), default="optimize_only")
    """``optimize_only``, ``auto_pr`` or ``pr_preview`` (see ``kaizen_sdk.models.TaskMode``)."""
    # Upstream Kaizen's task fields (stored and echoed; see docs/protocol.md).
    git_provider: Mapped[str | None] = mapped_column(String(32))
    git_base_url: Mapped[str | None] = mapped_column(Text)
    git_project: Mapped[str | None] = mapped_column(Text)
    git_repo: Mapped[str | None] = mapped_column(Text)
    git_base_branch: Mapped[str | None] = mapped_column(Text)
    prompt_file: Mapped[str | None] = mapped_column(Text)
    prompt_locator: Mapped[str | None] = mapped_column(Text)
    git_token_encrypted: Mapped[str | None] = mapped_column(Text)
    """Fernet ciphertext of the task's own git token (see publishing.credentials); never
    returned by the API."""
    optimizer_type: Mapped[str | None] = mapped_column(String(16))
    gepa_config: Mapped[dict[str, Any] | None]
    feedback_source: Mapped[str] = mapped_column(String(16), default="sdk", server_default="sdk")
    auto_eval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Trace(Base):
    """A recorded LLM call, scorable later by its id."""

    __tablename__ = "traces"
    __table_args__ = (Index("ix_traces_task_created", "task_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    prompt_text: Mapped[str | None] = mapped_column(Text)
    response_text: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    tokens: Mapped[int | None] = mapped_column(BigInteger)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    source_file: Mapped[str | None] = mapped_column(Text)
    source_variable: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    scored_by: Mapped[str | None] = mapped_column(Text)
    inputs: Mapped[dict[str, Any] | None]
    prompt_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="SET NULL")
    )
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Feedback(Base):
    """One rating of an output (optionally of a trace)."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_task_created", "task_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    inputs: Mapped[dict[str, Any] | None]
    output: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text, default="sdk")
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    trace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("traces.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class OptimizationJob(Base):
    """An optimization run of a task (at most one PENDING/RUNNING per task)."""

    __tablename__ = "optimization_jobs"
    __table_args__ = (
        Index("ix_jobs_task_created", "task_id", "created_at"),
        Index(
            "uq_jobs_one_active_per_task",
            "task_id",
            unique=True,
            sqlite_where=_ACTIVE_JOB_WHERE,
            postgresql_where=_ACTIVE_JOB_WHERE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    # No foreign key: prompt_versions.job_id already points here (no cycle on SQLite).
    prompt_version_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    progress_step: Mapped[str | None] = mapped_column(Text)
    pr_url: Mapped[str | None] = mapped_column(Text)
    pr_preview: Mapped[dict[str, Any] | None]
    """What a ``pr_preview`` job's pull request would contain (``PullRequestPreview``)."""
    pr_review: Mapped[str | None] = mapped_column(String(32))
    """``awaiting_approval``, ``approved`` or ``rejected``; None when nothing was proposed."""
    error_message: Mapped[str | None] = mapped_column(Text)
    job_metadata: Mapped[dict[str, Any] | None]
    result: Mapped[str | None] = mapped_column(String(32))
    triggered_by: Mapped[str | None] = mapped_column(Text)
    feedback_count: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class PromptVersion(Base):
    """A prompt version of a task (at most one ``active`` per task)."""

    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("task_id", "version_number", name="uq_prompt_versions_task_number"),
        Index("ix_prompt_versions_task_status", "task_id", "status"),
        Index(
            "uq_prompt_versions_one_active_per_task",
            "task_id",
            unique=True,
            sqlite_where=_ACTIVE_PROMPT_WHERE,
            postgresql_where=_ACTIVE_PROMPT_WHERE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    version_number: Mapped[int] = mapped_column(Integer)
    prompt_text: Mapped[str] = mapped_column(Text)
    eval_score: Mapped[float | None] = mapped_column(Float)
    baseline_score: Mapped[float | None] = mapped_column(Float)
    judge_score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    status_reason: Mapped[str | None] = mapped_column(Text)
    optimizer: Mapped[str | None] = mapped_column(Text)
    dspy_version: Mapped[str | None] = mapped_column(Text)
    dspy_state: Mapped[dict[str, Any] | None]
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("optimization_jobs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ApiKey(Base):
    """An API key; only its SHA-256 hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    is_bootstrap: Mapped[bool] = mapped_column(Boolean, default=False)
    scope: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    """``admin`` (every endpoint, key management included) or ``app`` (all but key management)."""
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in console browser: the cookie holds a random token, this row its hash."""

    __tablename__ = "console_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]


class Rollout(Base):
    """A candidate version served to a share of a task's traffic beside the active one (the
    baseline), until it is promoted or stopped (at most one ``running`` per task)."""

    __tablename__ = "rollouts"
    __table_args__ = (
        Index("ix_rollouts_task_started", "task_id", "started_at"),
        Index(
            "uq_rollouts_one_running_per_task",
            "task_id",
            unique=True,
            sqlite_where=_RUNNING_ROLLOUT_WHERE,
            postgresql_where=_RUNNING_ROLLOUT_WHERE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    baseline_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="CASCADE")
    )
    candidate_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="CASCADE")
    )
    share: Mapped[float] = mapped_column(Float)
    min_ratings_per_arm: Mapped[int] = mapped_column(Integer)
    max_duration_hours: Mapped[float] = mapped_column(Float)
    auto_decide: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="running")
    end_reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    ended_at: Mapped[datetime | None]


class PromptEvent(Base):
    """One active-prompt change; its id is the SSE event id."""

    __tablename__ = "prompt_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_type: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    task_name: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version_number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


def table_of(model: type[Base]) -> Table:
    """The Core ``Table`` of ``model``: bulk inserts with it skip the ORM's per-row bookkeeping
    and take values by column name (``metadata``, not the attribute ``metadata_``).

    Example:
        >>> table_of(Feedback).c.metadata.name
        'metadata'
    """
    return Base.metadata.tables[model.__tablename__]
