"""Alembic migrations of the CT server schema."""
