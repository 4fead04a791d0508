"""Rollouts: a candidate version served to a share of traffic beside the active one

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "task_id", sa.Uuid(), sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "baseline_version_id",
            sa.Uuid(),
            sa.ForeignKey("prompt_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "candidate_version_id",
            sa.Uuid(),
            sa.ForeignKey("prompt_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("min_ratings_per_arm", sa.Integer(), nullable=False),
        sa.Column("max_duration_hours", sa.Float(), nullable=False),
        sa.Column("auto_decide", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_rollouts_task_started", "rollouts", ["task_id", "started_at"])
    op.create_index(
        "uq_rollouts_one_running_per_task",
        "rollouts",
        ["task_id"],
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    )


def downgrade() -> None:
    op.drop_table("rollouts")
