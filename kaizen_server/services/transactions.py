"""Retry a write transaction that lost a race on a unique constraint.

Idempotent creation relies on the database: two concurrent requests with the same client
id both try to insert, one gets ``IntegrityError``; retrying it re-reads the stored row.

Example:
    >>> rows = await retry_on_conflict(session, lambda: insert_or_read(session))  # doctest: +SKIP
    >>> rows = retry_on_conflict_sync(sync_session, lambda: insert_or_read_sync(sync_session))
    ... # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kaizen_server.services.errors import ConflictError

__all__ = ["MAX_ATTEMPTS", "retry_on_conflict", "retry_on_conflict_sync"]

MAX_ATTEMPTS = 4
ResultT = TypeVar("ResultT")


async def retry_on_conflict(
    session: AsyncSession, attempt: Callable[[], Awaitable[ResultT]], *, what: str = "write"
) -> ResultT:
    """Run ``attempt`` (which commits); on ``IntegrityError`` roll back and run it again."""
    for _ in range(MAX_ATTEMPTS - 1):
        try:
            return await attempt()
        except IntegrityError:
            await session.rollback()
    try:
        return await attempt()
    except IntegrityError as exc:
        await session.rollback()
        raise _gave_up(what) from exc


def retry_on_conflict_sync(
    session: Session, attempt: Callable[[], ResultT], *, what: str = "write"
) -> ResultT:
    """:func:`retry_on_conflict` in a sync session (a write unit of ``Database.write``)."""
    for _ in range(MAX_ATTEMPTS - 1):
        try:
            return attempt()
        except IntegrityError:
            session.rollback()
    try:
        return attempt()
    except IntegrityError as exc:
        session.rollback()
        raise _gave_up(what) from exc


def _gave_up(what: str) -> ConflictError:
    return ConflictError(f"The {what} conflicted with concurrent changes; retry it")
