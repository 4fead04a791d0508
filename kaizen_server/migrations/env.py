"""Alembic environment: runs on the connection handed over by ``kaizen_server.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from kaizen_server.db.models import Base

_MIGRATION_LOCK_ID = 724_311_001  # pg advisory lock: replicas starting together migrate in turn


def run_migrations_online() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through kaizen_server.db.migrate (kaizen-server migrate)"
        )
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})"))
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
run_migrations_online()
