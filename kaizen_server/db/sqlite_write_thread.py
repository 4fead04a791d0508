"""SQLite write units run on one thread with a sync engine, committed in groups.

aiosqlite runs every call of a statement (cursor, execute, fetch, close) as its own hop to the
connection's thread and back to the event loop: measured on this project's machine, a
``SELECT 1`` through an ``AsyncSession`` cost ~195 us of CPU, ~12 us on a sync connection.
A batch of feedback makes ~6 statements, so the hops cost more than its rows. Here a write
unit (a function of a sync ``Session``) is one hop to the thread that owns the one sync
connection.

SQLite has one writer at a time, so under load units queue for the thread. The thread takes
every unit waiting (up to :data:`MAX_GROUP`) into one transaction and commits once (rows/s of
100-row batches with groups against one unit a transaction, same run: feedback 0.59-0.61x
of the direct write against 0.41-0.50x, traces 0.49-0.50x against 0.39-0.40x). When a unit
raises, the group runs again with each unit in its own savepoint: the unit that raises is
rolled back alone (the others are stored), one that hits a unique constraint runs again (up
to :data:`MAX_WRITE_ATTEMPTS` times). Every unit's caller hears of it only after the commit, so an
answer always means stored. Writers of other
processes (and this process's async write engine) queue on the database lock as before
(``BEGIN IMMEDIATE`` and the busy timeout that the engine's ``configure`` sets).

Example:
    >>> writes = SQLiteWriteThread("sqlite+aiosqlite:///./demo.db", lambda engine: None)
    >>> await writes.run(lambda session: session.execute(text("SELECT 1")).scalar())
    ... # doctest: +SKIP
    1
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

__all__ = ["MAX_GROUP", "MAX_WRITE_ATTEMPTS", "SQLiteWriteThread"]

P = ParamSpec("P")
T = TypeVar("T")

MAX_GROUP = 32
"""Most units committed together."""
MAX_WRITE_ATTEMPTS = 4
"""Runs of a write that keeps hitting a unique constraint before its ``IntegrityError`` is
its caller's (e.g. a client id stored by a concurrent request meanwhile: the next run reads
it). The one limit of every retried write (``Database.write``, ``retry_on_conflict``)."""


@dataclass(frozen=True, slots=True)
class _Unit:
    run: Callable[[Session], Any]
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[Any]

    def settle(self, result: Any, error: BaseException | None) -> None:
        """Hand the outcome to the caller's event loop (unless the caller gave up)."""
        self.loop.call_soon_threadsafe(_settle, self.answer, result, error)


def _settle(answer: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if answer.done():  # the request was cancelled while its unit waited or ran
        return
    if error is None:
        answer.set_result(result)
    else:
        answer.set_exception(error)


class SQLiteWriteThread:
    """One thread with one sync connection to the SQLite database of ``url`` (the server's
    ``sqlite+aiosqlite`` URL); ``configure`` sets up the engine (pragmas, ``BEGIN
    IMMEDIATE``) before its first connection. The thread starts with the first unit."""

    def __init__(self, url: str, configure: Callable[[Engine], None]) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        # One connection, only ever used by the thread.
        self._engine = create_engine(sync_url, pool_size=1, max_overflow=0)
        configure(self._engine)
        self._units: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def run(
        self, unit: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``unit(session, *args, **kwargs)`` in a write transaction on the thread, committed
        (with the units queued beside it) before this returns; its exception if it raised."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        self._start()
        self._units.put(_Unit(lambda session: unit(session, *args, **kwargs), loop, answer))
        return await answer

    def _start(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="kaizen-sqlite-writes", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._units.get()
            if first is None:
                break
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    unit = self._units.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stopping = True
                    break
                group.append(unit)
            self._commit_group(group)
        self._engine.dispose()  # here: the connection belongs to this thread

    def _commit_group(self, group: list[_Unit]) -> None:
        try:
            outcomes = self._run_group(group, isolated=False)
        except _UnitFailed:  # run them again, each in its own savepoint
            outcomes = self._run_group(group, isolated=True)
        for unit, (result, error) in zip(group, outcomes, strict=True):
            unit.settle(result, error)

    def _run_group(
        self, group: list[_Unit], *, isolated: bool
    ) -> list[tuple[Any, BaseException | None]]:
        """The outcome of each unit, all run in one transaction and committed. Not
        ``isolated``: the first unit that raises rolls back the whole transaction
        (:class:`_UnitFailed`); ``isolated``: each unit runs in a savepoint, so one that
        raises is rolled back alone (a savepoint per unit costs ~10 % of a batch's time on
        the thread, so only a group that had a failure pays it)."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                for unit in group:
                    if isolated:
                        outcomes.append(_run_in_savepoint(session, unit))
                        continue
                    try:
                        outcomes.append((unit.run(session), None))
                    except Exception as exc:
                        raise _UnitFailed from exc
        except _UnitFailed:
            raise
        except Exception as exc:  # the transaction failed: nothing of the group is stored
            ran = len(outcomes)
            outcomes = [(None, exc if error is None else error) for _, error in outcomes]
            outcomes += [(None, exc)] * (len(group) - ran)
        return outcomes

    async def dispose(self) -> None:
        """Finish the queued units, close the connection and stop the thread."""
        if self._thread is None:
            self._engine.dispose()
            return
        self._units.put(None)
        await asyncio.to_thread(self._thread.join)


class _UnitFailed(Exception):
    """A unit of a group run without savepoints raised: the group runs again with them."""


def _run_in_savepoint(session: Session, unit: _Unit) -> tuple[Any, BaseException | None]:
    conflict: IntegrityError | None = None
    for _ in range(MAX_WRITE_ATTEMPTS):
        try:
            with session.begin_nested():
                return unit.run(session), None
        except IntegrityError as exc:
            conflict = exc
        except Exception as exc:
            return None, exc
    return None, conflict
