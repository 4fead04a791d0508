"""Async engines and session factories for SQLite and PostgreSQL, and whole write units.

On SQLite every connection enables WAL, foreign keys and a busy timeout. The *write* engine
opens its transactions with ``BEGIN IMMEDIATE`` so concurrent writers queue on the database
lock instead of failing on a read-to-write upgrade; the *read* engine runs each statement in
its own implicit read transaction (no BEGIN/ROLLBACK round trips). On PostgreSQL both
factories share one engine.

:meth:`Database.write` runs a whole write transaction written as plain (sync) SQLAlchemy code:
on PostgreSQL in the writer session (``AsyncSession.run_sync``), on SQLite on the
:class:`~kaizen_server.db.sqlite_write_thread.SQLiteWriteThread`, a sync engine in one thread,
so the transaction costs one thread hop, not several per statement (aiosqlite's).

Example:
    >>> db = Database.connect("sqlite+aiosqlite:///./demo.db")  # doctest: +SKIP
    >>> async with db.writer() as session: ...                  # doctest: +SKIP
    >>> await db.write(lambda session: session.scalar(select(func.count(Task.id))))
    ... # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from kaizen_server.db.sqlite_write_thread import MAX_WRITE_ATTEMPTS, SQLiteWriteThread

__all__ = ["MAX_WRITE_ATTEMPTS", "SQLITE_BUSY_TIMEOUT_MS", "Database", "configure_sqlite"]

SQLITE_BUSY_TIMEOUT_MS = 30_000

P = ParamSpec("P")
T = TypeVar("T")


def configure_sqlite(sync_engine: Engine, *, immediate: bool) -> None:
    """Set the pragmas on every connection of ``sync_engine`` (``immediate``: and open its
    transactions with ``BEGIN IMMEDIATE``)."""

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
    sqlite_writes: SQLiteWriteThread | None = None

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
            configure_sqlite(read_engine.sync_engine, immediate=False)
            configure_sqlite(write_engine.sync_engine, immediate=True)
            sqlite_writes = SQLiteWriteThread(url, lambda e: configure_sqlite(e, immediate=True))
        else:
            sqlite_writes = None
            read_engine = write_engine = create_async_engine(
                url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
        return cls(
            url=url,
            read_engine=read_engine,
            write_engine=write_engine,
            reader=async_sessionmaker(read_engine, expire_on_commit=False),
            writer=async_sessionmaker(write_engine, expire_on_commit=False),
            sqlite_writes=sqlite_writes,
        )

    async def write(
        self, unit: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``unit(session, *args, **kwargs)``, plain SQLAlchemy code, in a write
        transaction and commit it (see the module's docstring for where). A unit that hits a
        unique constraint (a client id stored meanwhile by a concurrent request) runs again,
        up to :data:`MAX_WRITE_ATTEMPTS` times, then its ``IntegrityError`` is raised (a 409).

        On SQLite each statement of an ``AsyncSession`` is several thread hops of aiosqlite
        (measured: ``SELECT 1`` ~195 us of CPU, ~12 us on a sync connection), so a batch of
        feedback spent more CPU on them than on its rows.
        """
        if self.sqlite_writes is not None:
            return await self.sqlite_writes.run(unit, *args, **kwargs)
        for _ in range(MAX_WRITE_ATTEMPTS - 1):
            try:
                return await self._write_once(unit, *args, **kwargs)
            except IntegrityError:
                pass
        return await self._write_once(unit, *args, **kwargs)

    async def _write_once(
        self, unit: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        async with self.writer() as session:
            result = await session.run_sync(unit, *args, **kwargs)
            await session.commit()
            return result

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
        if self.sqlite_writes is not None:
            await self.sqlite_writes.dispose()
