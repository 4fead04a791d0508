"""Run the Alembic migrations shipped in ``kaizen_server/migrations`` programmatically.

Example:
    >>> upgrade_to_head("sqlite+aiosqlite:///./kaizen.db")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from kaizen_server.db.engine import Database

__all__ = ["alembic_config", "current_revision", "upgrade_to_head", "upgrade_to_head_async"]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head_async(database_url: str) -> None:
    """Apply every pending migration to the database at ``database_url``."""
    database = Database.connect(database_url)
    try:
        async with database.write_engine.connect() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
            await connection.commit()
    finally:
        await database.dispose()


def upgrade_to_head(database_url: str) -> None:
    """Synchronous wrapper of :func:`upgrade_to_head_async` (for the CLI)."""
    asyncio.run(upgrade_to_head_async(database_url))


async def current_revision(database_url: str) -> str | None:
    """The revision the database is at, ``None`` before the first migration."""
    from alembic.runtime.migration import MigrationContext

    database = Database.connect(database_url)
    try:
        async with database.read_engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await database.dispose()
