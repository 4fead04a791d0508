"""Upstream parity: task fields upstream's SDK sends, API-key scopes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- section: task fields (wire compatibility) ---
    # Upstream Kaizen's task fields, stored and echoed; traces keep where the prompt was found.
    with op.batch_alter_table("tasks") as tasks:
        for name in ("git_base_url", "git_project", "git_repo", "git_base_branch"):
            tasks.add_column(sa.Column(name, sa.Text(), nullable=True))
        tasks.add_column(sa.Column("git_provider", sa.String(32), nullable=True))
        tasks.add_column(sa.Column("prompt_file", sa.Text(), nullable=True))
        tasks.add_column(sa.Column("prompt_locator", sa.Text(), nullable=True))
        tasks.add_column(sa.Column("optimizer_type", sa.String(16), nullable=True))
        tasks.add_column(sa.Column("gepa_config", sa.JSON(), nullable=True))
        tasks.add_column(
            sa.Column("feedback_source", sa.String(16), nullable=False, server_default="sdk")
        )
        tasks.add_column(
            sa.Column("auto_eval", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("traces") as traces:
        traces.add_column(sa.Column("source_file", sa.Text(), nullable=True))
        traces.add_column(sa.Column("source_variable", sa.Text(), nullable=True))
    # --- end section: task fields ---
    # --- section: api key scopes ---
    # Keys stored before scopes could do everything: they stay ``admin``.
    with op.batch_alter_table("api_keys") as keys:
        keys.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="admin"))
    # --- end section: api key scopes ---
    pass


def downgrade() -> None:
    # --- section: api key scopes ---
    with op.batch_alter_table("api_keys") as keys:
        keys.drop_column("scope")
    # --- end section: api key scopes ---
    # --- section: task fields (wire compatibility) ---
    with op.batch_alter_table("traces") as traces:
        traces.drop_column("source_variable")
        traces.drop_column("source_file")
    with op.batch_alter_table("tasks") as tasks:
        for name in (
            "auto_eval",
            "feedback_source",
            "gepa_config",
            "optimizer_type",
            "prompt_locator",
            "prompt_file",
            "git_provider",
            "git_base_branch",
            "git_repo",
            "git_project",
            "git_base_url",
        ):
            tasks.drop_column(name)
    # --- end section: task fields ---
    pass
