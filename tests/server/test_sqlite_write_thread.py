"""The SQLite write thread commits the units queued together in one transaction, and a unit
that raises takes nothing of the others with it: on a real SQLite file, with the thread held
busy so that the units under test queue up and run as one group."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kaizen_server.db.engine import configure_sqlite
from kaizen_server.db.sqlite_write_thread import MAX_WRITE_ATTEMPTS, SQLiteWriteThread

SESSIONS: dict[str, int] = {}
"""The session each name was last inserted in (one session: one transaction, one group)."""


def _insert(session: Session, name: str) -> str:
    session.execute(text("INSERT INTO names (name) VALUES (:name)"), {"name": name})
    SESSIONS[name] = id(session)
    return name


def _insert_then_fail(session: Session, name: str) -> str:
    _insert(session, name)
    raise LookupError(f"{name} is refused")


def _names(session: Session) -> list[str]:
    return list(session.scalars(text("SELECT name FROM names ORDER BY rowid")))


@pytest.fixture
async def writes(tmp_path: Path) -> AsyncIterator[SQLiteWriteThread]:
    thread = SQLiteWriteThread(
        f"sqlite+aiosqlite:///{tmp_path / 'writes.db'}",
        lambda engine: configure_sqlite(engine, immediate=True),
    )
    await thread.run(lambda session: session.execute(text("CREATE TABLE names (name TEXT UNIQUE)")))
    yield thread
    await thread.dispose()


Unit = Callable[[Session, str], str]


async def _as_one_group(
    writes: SQLiteWriteThread, *calls: tuple[Unit, str]
) -> list[str | BaseException]:
    """Run ``calls`` (``(unit, name)`` pairs) while the thread is held busy, so that all of
    them are queued when it next looks: they run as one group."""
    release = threading.Event()
    busy = asyncio.create_task(writes.run(lambda session: release.wait(10)))
    await asyncio.sleep(0)  # the busy unit is queued first
    tasks = [asyncio.create_task(writes.run(unit, name)) for unit, name in calls]
    await asyncio.sleep(0)  # each task queues its unit before awaiting it
    release.set()
    assert await busy is True
    return list(await asyncio.gather(*tasks, return_exceptions=True))


@pytest.mark.anyio
async def test_a_failing_unit_leaves_the_rest_of_its_group_stored(
    writes: SQLiteWriteThread,
) -> None:
    outcomes = await _as_one_group(writes, (_insert, "a"), (_insert_then_fail, "b"), (_insert, "c"))
    assert outcomes[0] == "a"
    assert outcomes[2] == "c"
    assert isinstance(outcomes[1], LookupError)
    assert SESSIONS["a"] == SESSIONS["c"]  # committed together
    assert await writes.run(_names) == ["a", "c"]


@pytest.mark.anyio
async def test_a_unit_that_keeps_conflicting_gets_the_conflict_after_its_attempts(
    writes: SQLiteWriteThread,
) -> None:
    await writes.run(_insert, "taken")
    attempts: list[int] = []

    def conflicting(session: Session, name: str) -> str:
        attempts.append(1)
        return _insert(session, name)

    outcomes = await _as_one_group(writes, (_insert, "x"), (conflicting, "taken"), (_insert, "y"))
    assert outcomes[0] == "x"
    assert outcomes[2] == "y"
    assert isinstance(outcomes[1], IntegrityError)
    assert SESSIONS["x"] == SESSIONS["y"]
    # Once in the group's first run, then MAX_WRITE_ATTEMPTS times in its own savepoint.
    assert len(attempts) == 1 + MAX_WRITE_ATTEMPTS
    assert await writes.run(_names) == ["taken", "x", "y"]
