"""``insert_rows`` (the batch endpoints' write path) stores what the ORM would store, inside the
session's transaction, and reports conflicts as SQLAlchemy's ``IntegrityError``: with a few
rows (SQLAlchemy's INSERT) and with :data:`COPY_MIN_ROWS` or more (COPY on PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kaizen_server.db.bulk_insert import COPY_MIN_ROWS, insert_rows
from kaizen_server.db.columns import utc_now
from kaizen_server.db.engine import Database
from kaizen_server.db.models import Feedback, Task, Trace, table_of

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("size", [2, COPY_MIN_ROWS])]


async def _task(database: Database) -> uuid.UUID:
    async with database.writer() as session:
        task = Task(name=f"bulk_{uuid.uuid4().hex[:8]}")
        session.add(task)
        await session.commit()
        return task.id


def _feedback_row(task_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "task_id": task_id,
        "inputs": {"ticket": "Ünïcode ✓", "nested": [1, 2.5, None, {"deep": True}]},
        "output": "o",
        "score": 0.75,
        "source": "sdk",
        "metadata": None,
        "trace_id": None,
        "created_at": utc_now(),
        **changes,
    }


async def _count(database: Database, model: type[Feedback] | type[Trace]) -> int:
    async with database.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_rows_read_back_through_the_orm_as_they_were_given(
    database: Database, size: int
) -> None:
    task_id = await _task(database)
    rows = [_feedback_row(task_id) for _ in range(size - 1)]
    rows.append(_feedback_row(task_id, metadata={"user": "u-1"}, score=None))
    async with database.writer() as session:
        await insert_rows(session, table_of(Feedback), rows)  # the session's first statement
        await session.commit()
    async with database.reader() as session:
        stored = {row.id: row for row in await session.scalars(select(Feedback))}
    assert set(stored) == {row["id"] for row in rows}
    for row in rows:
        got = stored[row["id"]]
        assert got.task_id == task_id
        assert got.inputs == row["inputs"]
        assert got.metadata_ == row["metadata"]
        assert got.score == row["score"]
        assert got.created_at == row["created_at"]
        assert got.trace_id is None


async def test_a_stored_id_fails_the_whole_insert_as_an_integrity_error(
    database: Database, size: int
) -> None:
    task_id = await _task(database)
    first = _feedback_row(task_id)
    async with database.writer() as session:
        await insert_rows(session, table_of(Feedback), [first])
        await session.commit()
    async with database.writer() as session:
        with pytest.raises(IntegrityError):
            await insert_rows(
                session,
                table_of(Feedback),
                [*(_feedback_row(task_id) for _ in range(size - 1)), first],
            )
        await session.rollback()
        await insert_rows(session, table_of(Feedback), [_feedback_row(task_id)])  # usable again
        await session.commit()
    assert await _count(database, Feedback) == 2  # nothing of the failed insert was kept


async def test_a_row_of_an_unknown_task_is_an_integrity_error(
    database: Database, size: int
) -> None:
    async with database.writer() as session:
        with pytest.raises(IntegrityError):
            await insert_rows(
                session,
                table_of(Trace),
                [
                    {
                        "id": uuid.uuid4(),
                        "task_id": uuid.uuid4(),
                        "prompt_text": "p",
                        "created_at": utc_now(),
                    }
                    for _ in range(size)
                ],
            )
        await session.rollback()
    assert await _count(database, Trace) == 0


async def test_rows_of_a_rolled_back_session_are_not_kept(database: Database, size: int) -> None:
    task_id = await _task(database)
    rows = [_feedback_row(task_id) for _ in range(size)]
    async with database.writer() as session:
        await insert_rows(session, table_of(Feedback), rows)  # the session's first statement
        await session.rollback()
    assert await _count(database, Feedback) == 0
