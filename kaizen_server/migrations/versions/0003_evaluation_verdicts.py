"""Evaluation verdicts: a job's result, a version's baseline score and status reason

``optimization_jobs.result`` says what a successful job decided (improved, no_improvement,
unchanged, unevaluated); ``prompt_versions.baseline_score`` is the then-active prompt's score on
the same held-out examples, and ``status_reason`` says why a version is ``rejected``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("optimization_jobs") as jobs:
        jobs.add_column(sa.Column("result", sa.String(32), nullable=True))
    with op.batch_alter_table("prompt_versions") as versions:
        versions.add_column(sa.Column("baseline_score", sa.Float(), nullable=True))
        versions.add_column(sa.Column("status_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompt_versions") as versions:
        versions.drop_column("status_reason")
        versions.drop_column("baseline_score")
    with op.batch_alter_table("optimization_jobs") as jobs:
        jobs.drop_column("result")
