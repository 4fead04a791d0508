"""SQLite write transactions run whole in one thread, on a sync engine.

aiosqlite runs every call of a statement (cursor, execute, fetch, close) as its own hop to the
connection's thread and back to the event loop: measured on this project's machine, a
``SELECT 1`` through an ``AsyncSession`` cost ~195 us of CPU, ~12 us on a sync connection.
A batch of feedback makes ~6 statements, so the hops cost more than its rows. Here the whole
transaction is one function run on one thread that owns one sync connection: one hop a
transaction. SQLite has one writer at a time anyway; writers of other processes (and this
process's async write engine) queue on its lock as before (``BEGIN IMMEDIATE`` and the busy
timeout set by the engine's ``configure``).

Example:
    >>> writes = SQLiteWriteThread("sqlite+aiosqlite:///./demo.db", lambda engine: None)
    >>> await writes.run(lambda session: session.execute(text("SELECT 1")).scalar())
    ... # doctest: +SKIP
    1
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session

__all__ = ["SQLiteWriteThread"]

P = ParamSpec("P")
T = TypeVar("T")


class SQLiteWriteThread:
    """One thread with one sync connection to the SQLite database of ``url`` (the server's
    ``sqlite+aiosqlite`` URL); ``configure`` sets up the engine (pragmas, ``BEGIN
    IMMEDIATE``) before its first connection."""

    def __init__(self, url: str, configure: Callable[[Engine], None]) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        # One connection, only ever used by the one thread of the executor.
        self._engine = create_engine(sync_url, pool_size=1, max_overflow=0)
        configure(self._engine)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kaizen-sqlite-writes")

    async def run(
        self, unit: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``unit(session, *args, **kwargs)`` in a new session on the thread; ``unit``
        commits what it wants kept (the session rolls back the rest when it closes)."""
        call = functools.partial(self._in_session, unit, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    def _in_session(
        self, unit: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        with Session(self._engine, expire_on_commit=False) as session:
            return unit(session, *args, **kwargs)

    async def dispose(self) -> None:
        """Close the connection and stop the thread."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=False)
