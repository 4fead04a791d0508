"""Pull requests into the app's own source (encrypted git tokens), evaluator scores

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- section: publishing ---
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("git_token_encrypted", sa.Text(), nullable=True))
    # --- end section: publishing ---
    # --- section: evaluators ---
    with op.batch_alter_table("prompt_versions") as batch:
        batch.add_column(sa.Column("judge_score", sa.Float(), nullable=True))
    # --- end section: evaluators ---
    pass


def downgrade() -> None:
    # --- section: evaluators ---
    with op.batch_alter_table("prompt_versions") as batch:
        batch.drop_column("judge_score")
    # --- end section: evaluators ---
    # --- section: publishing ---
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("git_token_encrypted")
    # --- end section: publishing ---
    pass
