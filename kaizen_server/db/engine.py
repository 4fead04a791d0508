"""Async engines and session factories for SQLite and PostgreSQL.

On SQLite every connection enables WAL, foreign keys and a busy timeout. The *write* engine
opens its transactions with ``BEGIN IMMEDIATE`` so concurrent writers queue on the database
lock instead of failing on a read-to-write upgrade; the *read* engine runs each statement in
its own implicit read transaction (no BEGIN/ROLLBACK round trips). On PostgreSQL both
factories share one engine.

Example:
    >>> db = Database.connect("sqlite+aiosqlite:///./demo.db")  # doctest: +SKIP
    >>> async with db.writer() as session: ...                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "Database"]

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    if immediate:

        @event.listens_for(sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(frozen=True)
class Database:
    """The engines of one database and a session factory for reads and one for writes."""

    url: str
    read_engine: AsyncEngine
    write_engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite, False on PostgreSQL."""
        return self.read_engine.dialect.name == "sqlite"

    @classmethod
    def connect(cls, url: str) -> Database:
        """Create the engines (no connection is opened yet)."""
        if url.startswith("sqlite"):
            read_engine = create_async_engine(url, pool_size=20, max_overflow=20)
            write_engine = create_async_engine(url, pool_size=4, max_overflow=4)
            _configure_sqlite(read_engine, immediate=False)
            _configure_sqlite(write_engine, immediate=True)
        else:
            read_engine = write_engine = create_async_engine(
                url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
        return cls(
            url=url,
            read_engine=read_engine,
            write_engine=write_engine,
            reader=async_sessionmaker(read_engine, expire_on_commit=False),
            writer=async_sessionmaker(write_engine, expire_on_commit=False),
        )

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
