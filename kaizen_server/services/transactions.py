"""Retry a write transaction that lost a race on a unique constraint.

Idempotent creation relies on the database: two concurrent requests with the same client
id both try to insert, one gets ``IntegrityError``; retrying it re-reads the stored row.

Example:
    >>> rows = await retry_on_conflict(session, lambda: insert_or_read(session))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.db.engine import MAX_WRITE_ATTEMPTS
from kaizen_server.services.errors import ConflictError

__all__ = ["retry_on_conflict"]

ResultT = TypeVar("ResultT")


async def retry_on_conflict(
    session: AsyncSession, attempt: Callable[[], Awaitable[ResultT]], *, what: str = "write"
) -> ResultT:
    """Run ``attempt`` (which commits); on ``IntegrityError`` roll back and run it again."""
    for _ in range(MAX_WRITE_ATTEMPTS - 1):
        try:
            return await attempt()
        except IntegrityError:
            await session.rollback()
    try:
        return await attempt()
    except IntegrityError as exc:
        await session.rollback()
        raise ConflictError(f"The {what} conflicted with concurrent changes; retry it") from exc
