"""Upstream parity: task fields upstream's SDK sends, API-key scopes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  (used by the sections below)
from alembic import op  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- section: task fields (wire compatibility) ---
    # --- end section: task fields ---
    # --- section: api key scopes ---
    # --- end section: api key scopes ---
    pass


def downgrade() -> None:
    # --- section: api key scopes ---
    # --- end section: api key scopes ---
    # --- section: task fields (wire compatibility) ---
    # --- end section: task fields ---
    pass
