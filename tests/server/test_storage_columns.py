"""The server's portable column types write exactly what SQLAlchemy's own types would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from kaizen_server.db.columns import UTCDateTime


def test_sqlite_timestamps_are_written_in_sqlalchemys_own_text_format() -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    sqlalchemys = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    assert sqlalchemys is not None
    india = timezone(timedelta(hours=5, minutes=30))
    values = [
        datetime(2026, 11, 28, 13, 48, 16, 123456, tzinfo=UTC),
        datetime(2026, 11, 28, 13, 48, 16, tzinfo=UTC),  # no microseconds: still 6 digits
        datetime(2026, 1, 1, 2, 0, 0, 7, tzinfo=india),  # the day before, in UTC
        datetime(999, 5, 6, 7, 8, 9, 10, tzinfo=timezone(timedelta(0))),
        datetime(2026, 3, 4, 5, 6, 7, 8),  # naive: taken as UTC
    ]
    for value in values:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        assert ours(value) == sqlalchemys(utc.replace(tzinfo=None)), value
    assert ours(values[2]) == "2025-12-31 20:30:00.000007"
    assert ours(None) is None
