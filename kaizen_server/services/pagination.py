"""Keyset pagination, newest first, over ``(created_at, id)`` with opaque cursors.

Example:
    >>> from datetime import UTC, datetime
    >>> import uuid
    >>> key = (datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=7))
    >>> decode_cursor(encode_cursor(*key)) == key
    True
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from kaizen_server.services.errors import InputValidationError

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "decode_cursor", "encode_cursor", "fetch_page"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class _Keyed(Protocol):
    id: Any
    created_at: Any


RowT = TypeVar("RowT", bound=_Keyed)
ItemT = TypeVar("ItemT", covariant=True)


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    """One page of rows and the cursor of the next page (``None`` on the last one)."""

    items: Sequence[ItemT]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """An opaque cursor pointing just after the row ``(created_at, row_id)``."""
    raw = json.dumps([created_at.isoformat(), row_id.hex]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Inverse of :func:`encode_cursor`; a malformed cursor is a 422 naming ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has a UTC offset")
        # In UTC, as stored: an offset that moves the time out of datetime's range is refused.
        return moment.astimezone(UTC), uuid.UUID(hex=row_id)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeError) as exc:
        raise InputValidationError("query.cursor: not a cursor returned by this server") from exc


async def fetch_page(
    session: AsyncSession,
    statement: Select[RowT],
    entity: type[RowT],
    *,
    limit: int,
    cursor: str | None,
) -> Page[RowT]:
    """Run ``statement`` newest first from ``cursor`` on, ``limit`` rows at most."""
    created: InstrumentedAttribute[Any] = entity.created_at
    ident: InstrumentedAttribute[Any] = entity.id
    if cursor is not None:
        after_created, after_id = decode_cursor(cursor)
        statement = statement.where(
            or_(created < after_created, and_(created == after_created, ident < after_id))
        )
    statement = statement.order_by(created.desc(), ident.desc()).limit(limit + 1)
    rows = list((await session.scalars(statement)).all())
    if len(rows) <= limit:
        return Page(rows, None)
    last = rows[limit - 1]
    return Page(rows[:limit], encode_cursor(last.created_at, last.id))
