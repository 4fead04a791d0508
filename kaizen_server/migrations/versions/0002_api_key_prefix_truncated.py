"""api_keys.key_prefix keeps at most 4 characters of a key in clear

Earlier versions stored a key's first 10 characters; for a short hand-chosen bootstrap key
that was most of the key. Rows are cut to what ``display_prefix`` stores now: ``kz-`` plus 4
characters, or 4 characters of a key of another shape.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE api_keys SET key_prefix = CASE WHEN key_prefix LIKE 'kz-%' "
            "THEN substr(key_prefix, 1, 7) ELSE substr(key_prefix, 1, 4) END"
        )
    )


def downgrade() -> None:
    """The cut characters are gone; nothing to restore."""
