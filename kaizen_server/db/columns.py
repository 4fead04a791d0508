"""Portable column types and the server's clock.

Example:
    >>> utc_now().tzinfo is not None
    True
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "utc_now"]

_clock_lock = threading.Lock()
_last_timestamp = datetime.min.replace(tzinfo=UTC)


def utc_now() -> datetime:
    """Current UTC time, strictly increasing within this process.

    Rows created in one batch therefore keep their order when sorted by ``created_at``.
    """
    global _last_timestamp
    with _clock_lock:
        now = datetime.now(UTC)
        if now <= _last_timestamp:
            now = _last_timestamp + timedelta(microseconds=1)
        _last_timestamp = now
        return now


def _as_utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (naive: taken as UTC)."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive).

    On SQLite a value is written as ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC), SQLAlchemy's own
    storage format, with one ``isoformat`` call: a bulk insert converts one per row.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            if self.impl_instance.dialect_impl(dialect).bind_processor(dialect) is not None:
                return super().bind_processor(dialect)
            return _as_utc  # process_bind_param, without its checks for a value already UTC

        def to_sqlite_text(value: datetime | None) -> str | None:
            utc = _as_utc(value)
            return None if utc is None else utc.isoformat(" ", "microseconds")[:26]  # no +00:00

        return to_sqlite_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
