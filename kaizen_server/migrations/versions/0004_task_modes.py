"""Task modes: what a job does with an improved prompt, and pull request previews

``tasks.mode`` is ``optimize_only`` (store the version only), ``auto_pr`` (open the pull
request at once) or ``pr_preview`` (store the proposed pull request on the job; an operator
approves or rejects it). Tasks stored before this revision keep what they did: ``auto_pr``
when they have a ``github_repo``, else ``optimize_only``.

``optimization_jobs.pr_preview`` holds what a ``pr_preview`` job's pull request would contain
(repository, branch, title, body, file path, old and new file text, diff);
``optimization_jobs.pr_review`` is ``awaiting_approval``, ``approved`` or ``rejected``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as tasks:
        tasks.add_column(
            sa.Column(
                "mode", sa.String(16), nullable=False, server_default=sa.text("'optimize_only'")
            )
        )
    op.execute(sa.text("UPDATE tasks SET mode = 'auto_pr' WHERE github_repo IS NOT NULL"))
    with op.batch_alter_table("optimization_jobs") as jobs:
        jobs.add_column(sa.Column("pr_preview", sa.JSON(), nullable=True))
        jobs.add_column(sa.Column("pr_review", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("optimization_jobs") as jobs:
        jobs.drop_column("pr_review")
        jobs.drop_column("pr_preview")
    with op.batch_alter_table("tasks") as tasks:
        tasks.drop_column("mode")
